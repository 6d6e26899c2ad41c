//! The KV cache never takes more than the header's estimate counts for it: full at any context, its
//! bytes are exactly `KvCache::bytes_for` (the memory budget's figure), also for contexts shorter than
//! one growth step (a 64-token context took 256 positions' worth before) and for ones that end
//! inside a step.

use bitnet_web::model::{KvCache, KvPrecision};

#[test]
fn a_full_cache_takes_exactly_the_estimate() {
    let (n_layer, kv_dim, head_dim) = (3, 16, 8);
    for precision in [KvPrecision::F32, KvPrecision::F16] {
        for max_len in [1, 64, 255, 256, 257, 300, 600] {
            let mut cache = KvCache::new(n_layer, kv_dim, head_dim, max_len, precision);
            let row: Vec<f32> = (0..kv_dim).map(|i| i as f32).collect();
            for _ in 0..max_len {
                for layer in 0..n_layer {
                    cache.push(layer, &row, &row);
                }
                cache.commit(1);
                assert!(cache.memory_bytes() as u64 <= KvCache::bytes_for(n_layer, kv_dim, max_len, precision));
            }
            assert_eq!(cache.memory_bytes() as u64, KvCache::bytes_for(n_layer, kv_dim, max_len, precision), "{precision:?}, {max_len} positions");
        }
    }
}
