//! Chunk vectors: stored in `vectors.bin` (little-endian f32, with a header and each vector's
//! chunk id and text hash, so unchanged chunks are not embedded again), searched through an
//! `hnsw_rs` graph (built when the index is opened), with exact search kept for measuring the
//! graph's recall.

use std::io::{Read, Write};
use std::path::Path;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::prelude::Hnsw;

/// 1 − dot product of unit vectors, clamped at 0 (the library's own dot distance asserts
/// instead, and rounding puts a vector's dot with itself just above 1).
#[derive(Debug, Default, Clone, Copy)]
pub struct Angular;

impl Distance<f32> for Angular {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        (1.0 - dot).max(0.0)
    }
}

const MAGIC: &[u8; 8] = b"USHVEC01";

/// Vectors (unit length, so dot product = cosine) of the index's chunks, in chunk order.
pub struct VectorIndex {
    pub dims: usize,
    /// Per vector: (chunk id, hash of the embedded text).
    pub keys: Vec<(String, String)>,
    data: Vec<f32>,
    hnsw: Hnsw<'static, f32, Angular>,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VectorIndex({} × {})", self.len(), self.dims)
    }
}

impl VectorIndex {
    pub fn build(dims: usize, keys: Vec<(String, String)>, vectors: Vec<Vec<f32>>) -> Self {
        let mut data = Vec::with_capacity(vectors.len() * dims);
        for v in &vectors {
            data.extend_from_slice(v);
        }
        let n = vectors.len().max(1);
        let layers = 16.min((n as f32).ln().ceil().max(1.0) as usize);
        let hnsw = Hnsw::<f32, Angular>::new(24, n, layers, 200, Angular);
        let refs: Vec<(&Vec<f32>, usize)> = vectors.iter().zip(0..).collect();
        hnsw.parallel_insert(&refs);
        VectorIndex {
            dims,
            keys,
            data,
            hnsw,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }

    /// Approximate nearest chunks (index, cosine similarity), best first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        if self.is_empty() || k == 0 || query.len() != self.dims {
            return Vec::new();
        }
        let ef = (k * 4).max(64);
        self.hnsw
            .search(query, k, ef)
            .into_iter()
            .map(|n| (n.d_id, 1.0 - n.distance))
            .collect()
    }

    /// Exact nearest chunks (for measuring the graph's recall).
    pub fn exact(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = (0..self.len())
            .map(|i| {
                let v = self.vector(i);
                (i, v.iter().zip(query).map(|(a, b)| a * b).sum())
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.truncate(k);
        all
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut out = Vec::with_capacity(16 + self.data.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.dims as u32).to_le_bytes());
        out.extend_from_slice(&(self.keys.len() as u32).to_le_bytes());
        for (id, hash) in &self.keys {
            for s in [id, hash] {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        for x in &self.data {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(&out)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<VectorIndex, String> {
        let bad = |why: &str| format!("{}: {why}", path.display());
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| bad(&e.to_string()))?;
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = bytes.get(at..at + n).ok_or_else(|| bad("truncated"))?;
            at += n;
            Ok(s)
        };
        if take(8)? != MAGIC {
            return Err(bad("not a vector file of this version"));
        }
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let dims = u32_of(take(4)?);
        let n = u32_of(take(4)?);
        if dims == 0 || dims > 8192 || n > 50_000_000 {
            return Err(bad("implausible header"));
        }
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            let mut pair = [String::new(), String::new()];
            for s in &mut pair {
                let len = u32_of(take(4)?);
                *s = String::from_utf8(take(len)?.to_vec()).map_err(|_| bad("invalid key"))?;
            }
            let [id, hash] = pair;
            keys.push((id, hash));
        }
        let raw = take(n * dims * 4)?;
        let vectors: Vec<Vec<f32>> = raw
            .chunks_exact(dims * 4)
            .map(|v| {
                v.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect();
        Ok(VectorIndex::build(dims, keys, vectors))
    }
}

/// Reciprocal rank fusion of ranked lists of chunk indices (k = 60, as usual).
pub fn rrf(lists: &[Vec<usize>]) -> Vec<(usize, f32)> {
    let mut scores: std::collections::HashMap<usize, f32> = Default::default();
    for list in lists {
        for (rank, &i) in list.iter().enumerate() {
            *scores.entry(i).or_default() += 1.0 / (60.0 + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(usize, f32)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn hnsw_agrees_with_exact_search_and_survives_a_round_trip() {
        // 2,000 pseudo-random unit vectors of 32 dimensions.
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let vectors: Vec<Vec<f32>> = (0..2000)
            .map(|_| unit((0..32).map(|_| rnd()).collect()))
            .collect();
        let keys: Vec<(String, String)> = (0..2000)
            .map(|i| (format!("c{i}"), format!("h{i}")))
            .collect();
        let idx = VectorIndex::build(32, keys, vectors.clone());
        let mut found = 0;
        for q in vectors.iter().take(100) {
            let exact: Vec<usize> = idx.exact(q, 10).into_iter().map(|x| x.0).collect();
            let approx: Vec<usize> = idx.search(q, 10).into_iter().map(|x| x.0).collect();
            found += approx.iter().filter(|i| exact.contains(i)).count();
        }
        let recall = found as f64 / 1000.0;
        assert!(recall >= 0.95, "recall@10 {recall}");
        let path = std::env::temp_dir().join(format!("usher-vectors-{}.bin", std::process::id()));
        idx.save(&path).unwrap();
        let back = VectorIndex::load(&path).unwrap();
        assert_eq!(back.len(), 2000);
        assert_eq!(back.keys[5], ("c5".to_string(), "h5".to_string()));
        assert_eq!(back.vector(7), idx.vector(7));
        std::fs::write(&path, b"USHVEC01\x20\x00").unwrap();
        assert!(VectorIndex::load(&path).unwrap_err().contains("truncated"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn fusion_rewards_agreement() {
        let fused = rrf(&[vec![1, 2, 3], vec![3, 1, 4]]);
        let order: Vec<usize> = fused.iter().map(|x| x.0).collect();
        assert_eq!(order, vec![1, 3, 2, 4]);
    }
}
