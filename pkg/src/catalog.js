// The BitNet family's published GGUF files that this runtime loads, each with the source that names it.
//
// Only what a source names is listed: a URL is the publisher's repository and file name as its page gives
// them, a size is the figure its Hugging Face listing shows (null where no listing was read), and no
// publisher gives a SHA-256 beside these files, so `sha256` is null throughout (a load then has no digest
// to check; Hugging Face's own LFS pointer is not read here). Not listed, for want of a cited URL: the
// Falcon3-10B and Falcon-E-1B instruct GGUFs. `fits` is never stored: `checkFit` asks the header.

/** @type {readonly import("../index.d.ts").CatalogEntry[]} */
export const catalog = Object.freeze([
  {
    id: "bitnet-b1.58-2b4t",
    name: "BitNet b1.58 2B4T",
    publisher: "Microsoft",
    url: "https://huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf",
    size: 1.19e9,
    sha256: null,
    description: "Microsoft's 2.4B-parameter model trained on 4T tokens; chat.",
    source: "huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf (file list: 1.19 GB)",
  },
  ...[["1B", 1.36e9], ["3B", 2.22e9], ["7B", 3.28e9]].map(([b, size]) => ({
    id: `falcon3-${b.toLowerCase()}-instruct-1.58bit`,
    name: `Falcon3-${b}-Instruct-1.58bit`,
    publisher: "TII",
    url: `https://huggingface.co/tiiuae/Falcon3-${b}-Instruct-1.58bit-GGUF/resolve/main/ggml-model-i2_s.gguf`,
    size,
    sha256: null,
    description: `TII's Falcon3 ${b} instruct model, ternary; chat.`,
    source: `huggingface.co/tiiuae/Falcon3-${b}-Instruct-1.58bit-GGUF (file list: ${(size / 1e9).toFixed(2)} GB)`,
  })),
  {
    id: "falcon-e-3b-instruct",
    name: "Falcon-E-3B-Instruct",
    publisher: "TII",
    url: "https://huggingface.co/tiiuae/Falcon-E-3B-Instruct-GGUF/resolve/main/ggml-model-i2_s.gguf",
    size: null,
    sha256: null,
    description: "TII's Falcon-E 3B instruct model, BitNet-trained; chat.",
    source: "the model card of tiiuae/Falcon-E-3B-Instruct-GGUF (`huggingface-cli download tiiuae/Falcon-E-3B-Instruct-GGUF ggml-model-i2_s.gguf`)",
  },
]);
