//! Chunk vectors and their search graph, both stored in `vectors.bin`.
//!
//! The file holds a header, each vector's chunk id and text hash (so unchanged chunks are not
//! embedded again), the vectors (little-endian f32) and the HNSW graph over them. The graph
//! is built once, by `hnsw_rs` (parallel insertion), when the index is written; its layers are
//! then copied out into plain adjacency lists that usher stores and walks itself. Opening an
//! index therefore reads the graph instead of rebuilding it: building takes about 40 s for
//! 36,000 vectors of 384 dimensions on two cores, reading it back under 0.1 s (figures from
//! `benches/knowledge.rs`), and a language server reopens its index whenever it changes.
//! (`hnsw_rs`'s own dump would do, but its reloaded graph borrows the loader, which an index
//! that is opened and dropped again and again cannot hold without leaking it or `unsafe`; its
//! loader also prints to stdout, which is the LSP's channel, and panics on a corrupt file.)
//! Exact search is kept for measuring the graph's recall.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::prelude::Hnsw;

/// Dot product, with eight independent sums so that the compiler can use SIMD lanes (a single
/// running sum of floats cannot be reordered, and stays scalar).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}

/// 1 − dot product of unit vectors, clamped at 0 (the library's own dot distance asserts
/// instead, and rounding puts a vector's dot with itself just above 1).
#[derive(Debug, Default, Clone, Copy)]
pub struct Angular;

impl Distance<f32> for Angular {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// How the graph is built. The defaults reach recall@10 ≥ 0.98 against exact search on the
/// project's real embeddings (see `benches/knowledge.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphParams {
    /// Neighbours kept per vector and layer (twice as many in the bottom layer).
    pub max_connections: usize,
    /// Width of the search for neighbours while inserting.
    pub ef_construction: usize,
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            max_connections: 24,
            ef_construction: 200,
        }
    }
}

/// Width of the bottom-layer search of [`VectorIndex::search`] (at least 4 × k).
pub const EF_SEARCH: usize = 64;
/// [`VectorIndex::search`] compares every vector when the index holds at most this many times
/// the search width: each step of the beam reads a neighbour list of up to 32 vectors, so a beam
/// that wide reads about as many vectors as the index has, and more than once.
const EXACT_WIDTH_RATIO: usize = 8;

/// One layer of the graph: the neighbours of vector `i` are
/// `neighbours[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Layer {
    offsets: Vec<u32>,
    neighbours: Vec<u32>,
}

impl Layer {
    fn of(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.neighbours[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// The HNSW graph: layer 0 holds every vector, each layer above a sparser sample; `entries`
/// are the vectors of the top layer.
#[derive(Debug, Clone, Default, PartialEq)]
struct Graph {
    layers: Vec<Layer>,
    entries: Vec<u32>,
}

impl Graph {
    /// Builds the graph with `hnsw_rs` and copies its layers out.
    fn build(vectors: &[Vec<f32>], params: GraphParams) -> Graph {
        let n = vectors.len();
        if n == 0 {
            return Graph::default();
        }
        let max_layer = 16.min((n as f32).ln().ceil().max(1.0) as usize);
        let hnsw = Hnsw::<f32, Angular>::new(
            params.max_connections,
            n,
            max_layer,
            params.ef_construction,
            Angular,
        );
        let refs: Vec<(&Vec<f32>, usize)> = vectors.iter().zip(0..).collect();
        hnsw.parallel_insert(&refs);
        let points = hnsw.get_point_indexation();
        let top = points.get_max_level_observed() as usize;
        let mut lists: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(); n]; top + 1];
        for p in points {
            let row = p.get_origin_id();
            for (l, ns) in p
                .get_neighborhood_id()
                .into_iter()
                .enumerate()
                .take(top + 1)
            {
                lists[l][row] = ns.into_iter().map(|x| x.d_id as u32).collect();
            }
        }
        let entries = points
            .get_layer_iterator(top)
            .map(|p| p.get_origin_id() as u32)
            .collect();
        let layers = lists
            .into_iter()
            .map(|rows| {
                let mut offsets = Vec::with_capacity(n + 1);
                let mut neighbours = Vec::new();
                offsets.push(0);
                for r in rows {
                    neighbours.extend(r);
                    offsets.push(neighbours.len() as u32);
                }
                Layer {
                    offsets,
                    neighbours,
                }
            })
            .collect();
        Graph { layers, entries }
    }
}

/// A similarity with a total order, for the search heaps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sim(f32);

impl Eq for Sim {}

impl PartialOrd for Sim {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sim {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

const MAGIC: &[u8; 8] = b"USHVEC02";
/// The previous layout (no graph): still read, the graph is then built on opening.
const MAGIC_V1: &[u8; 8] = b"USHVEC01";

/// Vectors (unit length, so dot product = cosine) of the index's chunks, in chunk order.
pub struct VectorIndex {
    pub dims: usize,
    /// Per vector: (chunk id, hash of the embedded text).
    pub keys: Vec<(String, String)>,
    data: Vec<f32>,
    graph: Graph,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VectorIndex({} × {})", self.len(), self.dims)
    }
}

impl VectorIndex {
    pub fn build(dims: usize, keys: Vec<(String, String)>, vectors: Vec<Vec<f32>>) -> Self {
        Self::build_with(dims, keys, vectors, GraphParams::default())
    }

    pub fn build_with(
        dims: usize,
        keys: Vec<(String, String)>,
        vectors: Vec<Vec<f32>>,
        params: GraphParams,
    ) -> Self {
        let graph = Graph::build(&vectors, params);
        let mut data = Vec::with_capacity(vectors.len() * dims);
        for v in &vectors {
            data.extend_from_slice(v);
        }
        VectorIndex {
            dims,
            keys,
            data,
            graph,
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

    /// Nearest chunks (index, cosine similarity), best first: through the graph, or by
    /// comparing every vector when the graph search would be about as wide as the index (a
    /// small index, or a wide pool: a resource's lookup asks for hundreds of candidates). Its
    /// beam would then visit each vector several times over, through its neighbour lists;
    /// comparing them all is cheaper, and exact.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let ef = (k * 4).max(EF_SEARCH);
        if ef.saturating_mul(EXACT_WIDTH_RATIO) >= self.len() {
            return self.exact(query, k);
        }
        self.search_ef(query, k, ef)
    }

    /// [`Self::search`] with a chosen width of the bottom-layer search (at least `k`).
    pub fn search_ef(&self, query: &[f32], k: usize, ef: usize) -> Vec<(usize, f32)> {
        if self.is_empty() || k == 0 || query.len() != self.dims {
            return Vec::new();
        }
        let Some(bottom) = self.graph.layers.first() else {
            return self.exact(query, k);
        };
        let ef = ef.max(k);
        let sim = |i: u32| Sim(dot(self.vector(i as usize), query));
        // The closest vector of the top layer, then greedy descent to layer 1.
        let (mut cur, mut cur_sim) = self
            .graph
            .entries
            .iter()
            .map(|&i| (i, sim(i)))
            .max_by_key(|x| x.1)
            .unwrap_or((0, sim(0)));
        for layer in self.graph.layers[1..].iter().rev() {
            loop {
                let mut moved = false;
                for &nb in layer.of(cur) {
                    let s = sim(nb);
                    if s > cur_sim {
                        (cur, cur_sim, moved) = (nb, s, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        // Beam search of width `ef` in layer 0.
        let mut visited = vec![0u64; self.len().div_ceil(64)];
        let mut seen = |i: u32| {
            let (w, b) = (i as usize / 64, 1u64 << (i % 64));
            let was = visited[w] & b != 0;
            visited[w] |= b;
            was
        };
        seen(cur);
        let mut candidates: BinaryHeap<(Sim, u32)> = BinaryHeap::from([(cur_sim, cur)]);
        let mut best: BinaryHeap<Reverse<(Sim, u32)>> = BinaryHeap::from([Reverse((cur_sim, cur))]);
        while let Some((s, c)) = candidates.pop() {
            let worst = best.peek().map_or(Sim(f32::MIN), |r| r.0.0);
            if best.len() >= ef && s < worst {
                break;
            }
            for &nb in bottom.of(c) {
                if seen(nb) {
                    continue;
                }
                let s = sim(nb);
                let worst = best.peek().map_or(Sim(f32::MIN), |r| r.0.0);
                if best.len() < ef || s > worst {
                    candidates.push((s, nb));
                    best.push(Reverse((s, nb)));
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        let mut out: Vec<(usize, f32)> = best
            .into_iter()
            .map(|Reverse((s, i))| (i as usize, s.0))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }

    /// Exact nearest chunks, best first (also the measure of the graph's recall).
    pub fn exact(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        if k == 0 || query.len() != self.dims {
            return Vec::new();
        }
        let mut all: Vec<(usize, f32)> = (0..self.len())
            .map(|i| (i, dot(self.vector(i), query)))
            .collect();
        let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if k < all.len() {
            all.select_nth_unstable_by(k - 1, order);
            all.truncate(k);
        }
        all.sort_by(order);
        all
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let f = std::fs::File::create(path).map_err(err)?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let mut put = |b: &[u8]| out.write_all(b);
        let u32le = |x: usize| (x as u32).to_le_bytes();
        put(MAGIC).map_err(err)?;
        put(&u32le(self.dims)).map_err(err)?;
        put(&u32le(self.keys.len())).map_err(err)?;
        for (id, hash) in &self.keys {
            for s in [id, hash] {
                put(&u32le(s.len())).map_err(err)?;
                put(s.as_bytes()).map_err(err)?;
            }
        }
        for x in &self.data {
            put(&x.to_le_bytes()).map_err(err)?;
        }
        let g = &self.graph;
        put(&u32le(g.layers.len())).map_err(err)?;
        put(&u32le(g.entries.len())).map_err(err)?;
        for &e in &g.entries {
            put(&e.to_le_bytes()).map_err(err)?;
        }
        for layer in &g.layers {
            put(&u32le(layer.neighbours.len())).map_err(err)?;
            for &x in layer.offsets.iter().chain(&layer.neighbours) {
                put(&x.to_le_bytes()).map_err(err)?;
            }
        }
        let f = out.into_inner().map_err(|e| err(e.into_error()))?;
        f.sync_all().map_err(err)
    }

    pub fn load(path: &Path) -> Result<VectorIndex, String> {
        let bad = |why: &str| format!("{}: {why}", path.display());
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| bad(&e.to_string()))?;
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = at
                .checked_add(n)
                .and_then(|end| bytes.get(at..end))
                .ok_or_else(|| bad("truncated"))?;
            at += n;
            Ok(s)
        };
        let magic = take(8)?;
        let with_graph = if magic == MAGIC {
            true
        } else if magic == MAGIC_V1 {
            false
        } else {
            return Err(bad("not a vector file of this version"));
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let u32s = |b: &[u8]| -> Vec<u32> {
            b.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
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
        let data: Vec<f32> = take(n * dims * 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if !with_graph {
            let vectors: Vec<Vec<f32>> = data.chunks_exact(dims).map(<[f32]>::to_vec).collect();
            return Ok(VectorIndex::build(dims, keys, vectors));
        }
        let layers = u32_of(take(4)?);
        let entries = u32_of(take(4)?);
        if layers > 16 || (layers == 0) != (n == 0) || entries > n || (entries == 0) != (n == 0) {
            return Err(bad("implausible graph header"));
        }
        let entries = u32s(take(entries * 4)?);
        let mut graph = Graph {
            layers: Vec::with_capacity(layers),
            entries,
        };
        for _ in 0..layers {
            let total = u32_of(take(4)?);
            let offsets = u32s(take((n + 1) * 4)?);
            let neighbours = u32s(take(total.checked_mul(4).ok_or_else(|| bad("truncated"))?)?);
            let consistent = offsets.first() == Some(&0)
                && offsets.last() == Some(&(total as u32))
                && offsets.windows(2).all(|w| w[0] <= w[1]);
            if !consistent {
                return Err(bad("inconsistent graph"));
            }
            graph.layers.push(Layer {
                offsets,
                neighbours,
            });
        }
        let in_range = |ids: &[u32]| ids.iter().all(|&i| (i as usize) < n);
        if !in_range(&graph.entries) || !graph.layers.iter().all(|l| in_range(&l.neighbours)) {
            return Err(bad("inconsistent graph"));
        }
        if at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(VectorIndex {
            dims,
            keys,
            data,
            graph,
        })
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

    /// `n` pseudo-random unit vectors of `dims` dimensions around 50 centres (embeddings
    /// cluster by topic; uniform vectors would be the hardest case for any graph).
    fn vectors(n: usize, dims: usize) -> Vec<Vec<f32>> {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..50)
            .map(|_| (0..dims).map(|_| rnd()).collect())
            .collect();
        (0..n)
            .map(|i| unit(centres[i % 50].iter().map(|x| x + 0.7 * rnd()).collect()))
            .collect()
    }

    fn keys(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("c{i}"), format!("h{i}"))).collect()
    }

    fn recall(idx: &VectorIndex, queries: &[Vec<f32>]) -> f64 {
        let mut found = 0;
        for q in queries {
            let exact: Vec<usize> = idx.exact(q, 10).into_iter().map(|x| x.0).collect();
            let approx: Vec<usize> = idx
                .search_ef(q, 10, EF_SEARCH)
                .into_iter()
                .map(|x| x.0)
                .collect();
            found += approx.iter().filter(|i| exact.contains(i)).count();
        }
        found as f64 / (10 * queries.len()) as f64
    }

    #[test]
    fn a_search_as_wide_as_the_index_compares_every_vector() {
        let vectors = vectors(300, 16);
        let idx = VectorIndex::build(16, keys(300), vectors.clone());
        for q in vectors.iter().step_by(7) {
            // 300 vectors: a search for 10 (width 64) or for 100 reads them all.
            for k in [10, 100] {
                let got = idx.search(q, k);
                assert_eq!(got, idx.exact(q, k));
                assert_eq!(got.len(), k);
                assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
            }
        }
        // The exact search sorts the best `k` only, yet returns the same as a full sort.
        let q = &vectors[3];
        let mut all: Vec<(usize, f32)> = (0..300).map(|i| (i, dot(idx.vector(i), q))).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(idx.exact(q, 25), all[..25].to_vec());
        assert_eq!(idx.exact(q, 1000), all);
        assert!(idx.exact(q, 0).is_empty());
        assert!(
            idx.exact(&[0.5; 3], 5).is_empty(),
            "a query of other dimensions"
        );
    }

    #[test]
    fn dot_product_of_any_length() {
        for n in [0, 1, 7, 8, 9, 31, 384] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() <= plain.abs() * 1e-5, "n = {n}");
        }
    }

    #[test]
    fn hnsw_agrees_with_exact_search_and_survives_a_round_trip() {
        let vectors = vectors(2000, 32);
        let idx = VectorIndex::build(32, keys(2000), vectors.clone());
        let queries: Vec<Vec<f32>> = vectors.iter().step_by(20).cloned().collect();
        let recall = recall(&idx, &queries);
        assert!(recall >= 0.95, "recall@10 {recall}");
        let path = std::env::temp_dir().join(format!("usher-vectors-{}.bin", std::process::id()));
        idx.save(&path).unwrap();
        let back = VectorIndex::load(&path).unwrap();
        assert_eq!(back.len(), 2000);
        assert_eq!(back.keys[5], ("c5".to_string(), "h5".to_string()));
        assert_eq!(back.vector(7), idx.vector(7));
        // The graph is read back, not rebuilt: the very same answers.
        assert_eq!(back.graph, idx.graph);
        for q in &queries {
            assert_eq!(back.search(q, 10), idx.search(q, 10));
        }

        // Damaged files are refused with a reason, never a panic.
        let bytes = std::fs::read(&path).unwrap();
        for cut in [10, 100, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(VectorIndex::load(&path).unwrap_err().contains("truncated"));
        }
        let mut bad = bytes.clone();
        let last = bad.len() - 4;
        bad[last..].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        assert!(
            VectorIndex::load(&path)
                .unwrap_err()
                .contains("inconsistent")
        );
        std::fs::write(&path, b"USHVEC02\x20\x00").unwrap();
        assert!(VectorIndex::load(&path).unwrap_err().contains("truncated"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn files_without_a_graph_are_still_read() {
        let vectors = vectors(300, 16);
        let path =
            std::env::temp_dir().join(format!("usher-vectors-v1-{}.bin", std::process::id()));
        let mut v1 = Vec::new();
        v1.extend_from_slice(MAGIC_V1);
        v1.extend_from_slice(&16u32.to_le_bytes());
        v1.extend_from_slice(&300u32.to_le_bytes());
        for (id, hash) in keys(300) {
            for s in [id, hash] {
                v1.extend_from_slice(&(s.len() as u32).to_le_bytes());
                v1.extend_from_slice(s.as_bytes());
            }
        }
        for x in vectors.iter().flatten() {
            v1.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&path, v1).unwrap();
        let idx = VectorIndex::load(&path).unwrap();
        assert_eq!(idx.len(), 300);
        assert!(recall(&idx, &vectors[..30]) >= 0.95);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn empty_and_single() {
        let empty = VectorIndex::build(4, Vec::new(), Vec::new());
        assert!(empty.search(&[1.0, 0.0, 0.0, 0.0], 3).is_empty());
        let path = std::env::temp_dir().join(format!("usher-vectors-0-{}.bin", std::process::id()));
        empty.save(&path).unwrap();
        assert!(VectorIndex::load(&path).unwrap().is_empty());
        let one = VectorIndex::build(4, keys(1), vec![vec![0.0, 1.0, 0.0, 0.0]]);
        assert_eq!(one.search(&[0.0, 1.0, 0.0, 0.0], 3), vec![(0, 1.0)]);
        one.save(&path).unwrap();
        assert_eq!(
            VectorIndex::load(&path)
                .unwrap()
                .search(&[0.0, 1.0, 0.0, 0.0], 3),
            vec![(0, 1.0)]
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn fusion_rewards_agreement() {
        let fused = rrf(&[vec![1, 2, 3], vec![3, 1, 4]]);
        let order: Vec<usize> = fused.iter().map(|x| x.0).collect();
        assert_eq!(order, vec![1, 3, 2, 4]);
    }

    /// Build and open times at scale: `N=30000 cargo test --release --lib vectors::tests::scale
    /// -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn scale() {
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30_000);
        let vectors = vectors(n, 384);
        let t = std::time::Instant::now();
        let idx = VectorIndex::build(384, keys(n), vectors.clone());
        eprintln!("build {n} × 384: {:.2?}", t.elapsed());
        let path = std::env::temp_dir().join(format!("usher-vectors-n-{}.bin", std::process::id()));
        idx.save(&path).unwrap();
        let t = std::time::Instant::now();
        let back = VectorIndex::load(&path).unwrap();
        eprintln!("load (graph read from the file): {:.2?}", t.elapsed());
        let queries: Vec<Vec<f32>> = vectors.iter().step_by(n / 200).cloned().collect();
        eprintln!("recall@10 {:.4}", recall(&back, &queries));
        let _ = std::fs::remove_file(&path);
    }
}
