//! Writes GGUF bytes field by field, including fields no correct writer would produce.

#[derive(Default, Clone)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// "GGUF", a version and the two counts.
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version).u64(n_tensors).u64(n_kv);
        r
    }

    pub fn u8(&mut self, x: u8) -> &mut Self {
        self.0.push(x);
        self
    }

    pub fn u32(&mut self, x: u32) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }

    pub fn u64(&mut self, x: u64) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }

    /// A key with a u32 value.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key).u32(4).u32(v)
    }

    /// A tensor-table entry.
    pub fn tensor(&mut self, name: &str, shape: &[u64], type_id: u32, offset: u64) -> &mut Self {
        self.str(name).u32(shape.len() as u32);
        for &d in shape {
            self.u64(d);
        }
        self.u32(type_id).u64(offset)
    }

    /// Zero padding up to a multiple of `align`, then `n` data bytes.
    pub fn data(&mut self, align: usize, n: usize) -> &mut Self {
        self.0.resize(self.0.len().next_multiple_of(align), 0);
        self.0.extend((0..n).map(|i| i as u8));
        self
    }

    pub fn build(&self) -> Vec<u8> {
        self.0.clone()
    }
}
