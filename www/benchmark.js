// "Benchmark this device" (issue 33): runs `engine.benchmark()` on the model loaded and shows, at each
// thread count, prefill and decode speed, the rate at which the model's weights stream from memory,
// and the decode speed that rate allows, with the whole report as JSON to copy. A chat sent meanwhile
// waits its turn in the worker; the conversation's cache is computed again after.
const $ = (id) => document.getElementById(id);
const fixed = (v, digits = 1) => (v == null ? "—" : v.toFixed(digits));

export function bindBenchmark(currentEngine) {
  const button = $("bench-run");
  button.addEventListener("click", async () => {
    const engine = currentEngine();
    if (!engine) {
      $("bench-status").textContent = "Load a model first.";
      return;
    }
    button.disabled = true;
    document.body.dataset.bench = "running";
    const rows = $("bench-table").tBodies[0];
    rows.replaceChildren();
    $("bench-table").hidden = false;
    $("bench-report").hidden = true;
    $("bench-copy").textContent = "Copy the report (JSON)";
    $("bench-status").textContent = `Measuring at 1 of ${engine.info.threads} thread(s)…`;
    try {
      const report = await engine.benchmark({
        onProgress: ({ threads, of, run }) => {
          const tr = rows.insertRow();
          for (const v of [String(run.threads), fixed(run.prefill_tok_s), fixed(run.decode_tok_s), fixed(run.read_gb_s, 2), fixed(run.bound_tok_s)]) {
            tr.insertCell().textContent = v;
          }
          $("bench-status").textContent = threads < of ? `Measuring at ${threads + 1} of ${of} threads…` : "";
        },
      });
      const best = Math.max(...report.runs.map((r) => r.decode_tok_s ?? 0));
      $("bench-status").textContent = best
        ? `Done: up to ${best.toFixed(1)} tokens/s of decode on ${report.engine.backend} (${report.engine.kernel}).`
        : `Done on ${report.engine.backend} (${report.engine.kernel}).`;
      $("bench-json").textContent = JSON.stringify(report, null, 2);
      $("bench-report").hidden = false;
      document.body.dataset.bench = "done";
    } catch (e) {
      $("bench-status").textContent = `The benchmark failed: ${e.message}`;
      document.body.dataset.bench = "failed";
    } finally {
      button.disabled = false;
    }
  });
  $("bench-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("bench-json").textContent);
      $("bench-copy").textContent = "Copied";
    } catch {
      // No clipboard permission: select the text for the user to copy.
      getSelection().selectAllChildren($("bench-json"));
    }
  });
}
