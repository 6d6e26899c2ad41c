// A kernel thread of the threaded SIMD128 build, for browsers without relaxed SIMD (Safari);
// thread-run.js does the work.
import * as build from "./wasm-threads-simd/bitnet_web.js";
import { runKernelThread } from "./thread-run.js";

runKernelThread(build);
