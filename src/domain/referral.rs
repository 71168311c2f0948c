//! Referral codes: one per customer, derived from its id.

/// A unique, stable referral code per customer id: the id times an odd
/// constant modulo 2^35 (a bijection), in Crockford base 32.
pub fn code(customer_id: i64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut x = (customer_id as u64).wrapping_mul(0x9E37_79B9) & ((1 << 35) - 1);
    let mut code = [b'0'; 7];
    for slot in code.iter_mut().rev() {
        *slot = ALPHABET[(x & 31) as usize];
        x >>= 5;
    }
    format!("REF-{}", String::from_utf8_lossy(&code))
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_distinct_and_shaped() {
        let codes: std::collections::BTreeSet<String> = (1..=10_000).map(super::code).collect();
        assert_eq!(codes.len(), 10_000);
        assert!(codes.iter().all(|c| c.len() == 11 && c.starts_with("REF-")));
    }
}
