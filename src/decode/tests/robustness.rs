//! A seeded random robustness loop: decoding any input never panics.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Random bytes, random text over the characters barcodes are made of, and mutated good
/// scans: decoding never panics and always yields a consistent reading.
#[test]
fn random_input_never_panics() {
    const SEEDS: [&str; 8] = [
        "]C1010950600013435217251231\u{1d}10ABC123",
        "https://id.gs1.org/01/09506000134352/10/ABC123/21/S1?17=251231&3103=000195",
        "(01)09506000134352(17)251231(10)AB1",
        "]E05901234123457",
        "]C100106141411234567897020950600013435237 12",
        "SO-123",
        "]d2\u{1d}8030SGVsbG8=\u{1d}8013 1987654Ad4X4bL5ttr2310c2K",
        "]Q1HTTPS://a/414/9506000134359/254/A%2Fb?8020=X+Y&4330=001234-",
    ];
    const ALPHABET: &[u8] = b"0123456789]CdQeEJI()/?&=%+#-ABCxyz \x1d\r\n^<>GS.:";
    let rules = BarcodeRules::default()
        .with_gs_substitutes(["^]", "<GS>"])
        .unwrap();
    let mut rng = StdRng::seed_from_u64(0xD0C6_A7E5);
    let iterations = if cfg!(debug_assertions) {
        60_000
    } else {
        1_000_000
    };
    for i in 0..iterations {
        let bytes: Vec<u8> = match i % 3 {
            0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
            1 => (0..rng.random_range(0..64))
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect(),
            _ => {
                let mut b = SEEDS[rng.random_range(0..SEEDS.len())].as_bytes().to_vec();
                for _ in 0..rng.random_range(1..4) {
                    let pos = rng.random_range(0..=b.len());
                    match rng.random_range(0..3) {
                        0 if pos < b.len() => {
                            b[pos] = ALPHABET[rng.random_range(0..ALPHABET.len())];
                        }
                        1 if pos < b.len() => {
                            b.remove(pos);
                        }
                        _ => b.insert(pos, ALPHABET[rng.random_range(0..ALPHABET.len())]),
                    }
                }
                b
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let year = 1990 + i % 100;
        let r = decode(&text, &rules, (year, 1, 1));
        // Invariants: a reading is unknown exactly when it says "unknown_barcode"; the
        // accessors and the JSON rendering work on whatever came out.
        assert_eq!(
            r.kind() == Kind::Unknown,
            reasons(&r).contains(&"unknown_barcode"),
            "{text:?}"
        );
        for e in r.elements() {
            let _ = e.decimal_value();
        }
        let _ = (
            r.gtin(),
            r.expiry(),
            r.quantity(),
            r.sscc(),
            r.lot(),
            r.serial(),
        );
        serde_json::to_string(&r).unwrap();
    }
}
