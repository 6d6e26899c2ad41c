"""Copy a GGUF with its one-dimensional F16 tensors (the norm weights) stored as F32, as llama.cpp's own
converter (convert_hf_to_gguf.py) stores every 1-D tensor; every other tensor and every metadata key is
copied as it is.

    .venv/bin/python bench/f32_norms.py IN.gguf OUT.gguf

Why (bench/embeddings.mjs, `make bench-embeddings`): `bitnet-web synth --variant f16` writes the norms in
F16, as Microsoft's BitNet-embedding converter does, and llama.cpp's CPU backend has no f32 x f16 multiply
for the norm weights (wllama 3.13 aborts in its first forward pass: `binary_op: unsupported types: dst:
f32, src0: f32, src1: f16`). The F32 copy is the same model in the layout an upstream F16 GGUF has. The
values are the same: every F16 value is exact in F32.
"""

import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter


def main(src: str, dst: str) -> None:
    reader = GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(dst, arch)
    alignment = reader.fields.get("general.alignment")
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    for name, field in reader.fields.items():
        # The header's own fields, and the two keys GGUFWriter writes itself.
        if name.startswith("GGUF.") or name in ("general.architecture", "general.alignment"):
            continue
        sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), field.types[0], sub_type=sub)
    changed = 0
    for t in reader.tensors:
        if t.tensor_type == GGMLQuantizationType.F16 and len(t.shape) == 1:
            writer.add_tensor(t.name, np.asarray(t.data, dtype=np.float16).astype(np.float32))
            changed += 1
        else:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {dst}: {len(reader.tensors)} tensors, {changed} one-dimensional F16 tensors stored as F32")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: f32_norms.py IN.gguf OUT.gguf")
    main(sys.argv[1], sys.argv[2])
