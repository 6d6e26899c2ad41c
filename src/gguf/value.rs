//! GGUF metadata values: the 13 value types of `enum gguf_type`.
//!
//! Arrays are stored as typed vectors (not a `Vec<Value>`), so that a 128k-entry vocabulary costs what
//! its elements cost and nothing more.

use serde::Serialize;

/// The on-disk type id of a metadata value (`enum gguf_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<Self> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Encoded size of one value, for the fixed-size types.
    pub fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "str",
            Array => "arr",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A metadata array: all elements share one type, and arrays do not nest.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl Array {
    pub fn empty(ty: ValueType) -> Option<Self> {
        use ValueType as T;
        Some(match ty {
            T::U8 => Array::U8(Vec::new()),
            T::I8 => Array::I8(Vec::new()),
            T::U16 => Array::U16(Vec::new()),
            T::I16 => Array::I16(Vec::new()),
            T::U32 => Array::U32(Vec::new()),
            T::I32 => Array::I32(Vec::new()),
            T::F32 => Array::F32(Vec::new()),
            T::Bool => Array::Bool(Vec::new()),
            T::String => Array::String(Vec::new()),
            T::U64 => Array::U64(Vec::new()),
            T::I64 => Array::I64(Vec::new()),
            T::F64 => Array::F64(Vec::new()),
            T::Array => return None,
        })
    }

    pub fn elem_type(&self) -> ValueType {
        use ValueType as T;
        match self {
            Array::U8(_) => T::U8,
            Array::I8(_) => T::I8,
            Array::U16(_) => T::U16,
            Array::I16(_) => T::I16,
            Array::U32(_) => T::U32,
            Array::I32(_) => T::I32,
            Array::F32(_) => T::F32,
            Array::Bool(_) => T::Bool,
            Array::String(_) => T::String,
            Array::U64(_) => T::U64,
            Array::I64(_) => T::I64,
            Array::F64(_) => T::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a scalar [`Value`].
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.clone()),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
        })
    }

    /// Appends a scalar of this array's element type; the parser only ever pushes matching types.
    pub(crate) fn push(&mut self, v: Value) {
        match (self, v) {
            (Array::U8(a), Value::U8(x)) => a.push(x),
            (Array::I8(a), Value::I8(x)) => a.push(x),
            (Array::U16(a), Value::U16(x)) => a.push(x),
            (Array::I16(a), Value::I16(x)) => a.push(x),
            (Array::U32(a), Value::U32(x)) => a.push(x),
            (Array::I32(a), Value::I32(x)) => a.push(x),
            (Array::F32(a), Value::F32(x)) => a.push(x),
            (Array::Bool(a), Value::Bool(x)) => a.push(x),
            (Array::String(a), Value::String(x)) => a.push(x),
            (Array::U64(a), Value::U64(x)) => a.push(x),
            (Array::I64(a), Value::I64(x)) => a.push(x),
            (Array::F64(a), Value::F64(x)) => a.push(x),
            (a, v) => unreachable!("array of {:?} got {v:?}", a.elem_type()),
        }
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        use ValueType as T;
        match self {
            Value::U8(_) => T::U8,
            Value::I8(_) => T::I8,
            Value::U16(_) => T::U16,
            Value::I16(_) => T::I16,
            Value::U32(_) => T::U32,
            Value::I32(_) => T::I32,
            Value::F32(_) => T::F32,
            Value::Bool(_) => T::Bool,
            Value::String(_) => T::String,
            Value::Array(_) => T::Array,
            Value::U64(_) => T::U64,
            Value::I64(_) => T::I64,
            Value::F64(_) => T::F64,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer type, if its value fits in u64 (files disagree on u32 vs i32 vs u64 for counts).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(x) => Some(x as u64),
            Value::U16(x) => Some(x as u64),
            Value::U32(x) => Some(x as u64),
            Value::U64(x) => Some(x),
            Value::I8(x) => u64::try_from(x).ok(),
            Value::I16(x) => u64::try_from(x).ok(),
            Value::I32(x) => u64::try_from(x).ok(),
            Value::I64(x) => u64::try_from(x).ok(),
            _ => None,
        }
    }

    /// Any float or integer type as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(x) => Some(x as f64),
            Value::F64(x) => Some(x),
            Value::I8(x) => Some(x as f64),
            Value::I16(x) => Some(x as f64),
            Value::I32(x) => Some(x as f64),
            Value::I64(x) => Some(x as f64),
            _ => self.as_u64().map(|x| x as f64),
        }
    }

    /// A short human-readable rendering: long arrays and strings are elided.
    pub fn summary(&self) -> String {
        const MAX_ITEMS: usize = 4;
        const MAX_CHARS: usize = 60;
        let short = |s: &str| {
            if s.chars().count() > MAX_CHARS {
                format!("{:?}…", s.chars().take(MAX_CHARS).collect::<String>())
            } else {
                format!("{s:?}")
            }
        };
        match self {
            Value::String(s) => short(s),
            Value::Array(a) => {
                let items: Vec<String> = (0..a.len().min(MAX_ITEMS))
                    .map(|i| match a.get(i) {
                        Some(Value::String(s)) => short(&s),
                        Some(v) => v.summary(),
                        None => String::new(),
                    })
                    .collect();
                let more = if a.len() > MAX_ITEMS { ", …" } else { "" };
                format!("[{}; {}] [{}{more}]", a.elem_type().name(), a.len(), items.join(", "))
            }
            Value::U8(x) => x.to_string(),
            Value::I8(x) => x.to_string(),
            Value::U16(x) => x.to_string(),
            Value::I16(x) => x.to_string(),
            Value::U32(x) => x.to_string(),
            Value::I32(x) => x.to_string(),
            Value::F32(x) => x.to_string(),
            Value::Bool(x) => x.to_string(),
            Value::U64(x) => x.to_string(),
            Value::I64(x) => x.to_string(),
            Value::F64(x) => x.to_string(),
        }
    }
}
