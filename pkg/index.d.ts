// Types for bitnet-web's JavaScript API (the implementation is dist/index.js).

export interface Progress {
  /** "download" (from a URL), "cache" (from offline storage), "file" (a local file),
   *  "header" (the model's header passed its checks), "warning" (e.g. could not keep it offline). */
  phase: "download" | "cache" | "file" | "header" | "warning";
  loaded?: number;
  total?: number;
  /** Bytes per second, when downloading. */
  rate?: number | null;
  /** Seconds left, when the size is known. */
  eta?: number | null;
  header?: ModelHeader;
  message?: string;
}

export interface ModelHeader {
  architecture: string;
  name: string | null;
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nCtxTrain: number;
  tensorBytes: number;
  fileLength: number;
}

export interface CreateEngineOptions {
  /** A URL, a local File/Blob, or the file's bytes. */
  model: string | URL | Blob | ArrayBuffer;
  /** Only the CPU backend exists yet; other values fall back to it. */
  device?: "auto" | "cpu" | "webgpu";
  /**
   * Kernel threads (default "auto": every core, up to 8). More than one needs a cross-origin isolated page
   * (COOP/COEP headers) and relaxed SIMD; otherwise one thread runs and `info.threadsNote` says why.
   */
  threads?: "auto" | number;
  /**
   * The LM head. "shortlist": a 4-bit copy built at load picks the likely tokens and the stored head
   * scores them exactly (the other logits are 4-bit estimates); "int8": a copy with one scale per row;
   * "stored": exactly as in the file (F16). "auto" (default): "shortlist" when the head is the token
   * embedding (2B4T), "int8" when the file has a separate head.
   */
  lmHead?: "auto" | "shortlist" | "int8" | "stored";
  onProgress?: (p: Progress) => void;
  /** Keep a URL's model for offline use after a complete, verified download (default true). */
  cache?: boolean;
  /** Expected SHA-256 (hex) of the file; a mismatch is a DownloadError and nothing is kept. */
  sha256?: string;
  /** I2_S block layout: 128 (default; the official file) or 64 (bitnet.cpp ARM builds since 2025-11). */
  i2sLayout?: 128 | 64;
  /** Context length in tokens (default: the model's, at most 4096). */
  contextLength?: number;
  /** KV cache precision (default "f32"). */
  kvCache?: "f32" | "f16";
  /** Where worker.js is served, if not next to index.js. */
  workerUrl?: string | URL;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatCompletionRequest {
  messages?: ChatMessage[];
  /** A raw prompt instead of messages. */
  prompt?: string;
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  seed?: number;
  stop?: string | string[];
  signal?: AbortSignal;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReason = "stop" | "length" | null;

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: { index: number; delta: { role?: "assistant"; content?: string }; finish_reason: FinishReason }[];
  usage?: Usage;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: { index: number; message: { role: "assistant"; content: string }; finish_reason: FinishReason }[];
  usage?: Usage;
}

export interface EngineStats {
  prefill_tok_s: number | null;
  decode_tok_s: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  reused_tokens: number;
  /** The WebAssembly memory in use. */
  memory_bytes: number | null;
  /** Weights plus KV cache. */
  model_bytes: number | null;
  backend: string;
  kernel: string;
  threads: number;
  /** The LM head that ran: "int8", "f16" or "f32". */
  lm_head: string | null;
}

export interface Engine {
  readonly header: ModelHeader;
  readonly info: {
    backend: string;
    kernel: string;
    threads: number;
    /** Why fewer threads run than were asked for, or null. */
    threadsNote: string | null;
    crossOriginIsolated: boolean;
    wasmMemoryBytes: number;
  };
  readonly model: string;
  chat: {
    completions: {
      create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(req: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  stats(): EngineStats;
  refreshStats(): Promise<EngineStats>;
  resetConversation(): Promise<void>;
  unload(): Promise<void>;
}

export function createEngine(options: CreateEngineOptions): Promise<Engine>;
export function listCachedModels(): Promise<{ url: string; size: number; sha256: string | null; savedAt: string }[]>;
export function deleteCachedModel(url: string): Promise<void>;

export class BitnetError extends Error {}
export class GgufError extends BitnetError {}
export class UnsupportedModelError extends BitnetError {}
export class OutOfMemoryError extends BitnetError {}
export class DownloadError extends BitnetError {}
export class AbortError extends BitnetError {}
export class ContextFullError extends BitnetError {}
