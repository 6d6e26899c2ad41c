// A kernel thread of the threaded relaxed-SIMD build (thread-run.js does the work).
import * as build from "./wasm-threads/bitnet_web.js";
import { runKernelThread } from "./thread-run.js";

runKernelThread(build);
