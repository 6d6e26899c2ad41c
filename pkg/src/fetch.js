// An OpenAI-compatible server inside the page, as a `fetch` function: SDKs that take a custom fetch
// (the `openai` package, the AI SDK's `@ai-sdk/openai-compatible`) talk to the engine as they
// would to api.openai.com, with nothing sent over the network.
//
//   const client = new OpenAI({ baseURL: "http://bitnet.local/v1", apiKey: "none", fetch: createFetch(engine), dangerouslyAllowBrowser: true });
//
// Routes (any origin and prefix; the path's end decides): POST …/chat/completions, POST
// …/completions, POST …/embeddings, GET …/models and …/models/{id}. Answers are OpenAI's JSON, or server-sent events
// ending with `data: [DONE]` for `stream: true`; errors are OpenAI's error JSON with its status codes.
// The request's signal aborts the generation, and the SDK sees the AbortError a real fetch throws.

const JSON_TYPE = { "content-type": "application/json" };

/** OpenAI's error body. */
function errorResponse(status, message, { type = "invalid_request_error", param = null, code = null, headers = {} } = {}) {
  return new Response(JSON.stringify({ error: { message, type, param, code } }), { status, headers: { ...JSON_TYPE, ...headers } });
}

/** The field an error names, as OpenAI's `param`: the UnsupportedFieldError's, or the first `quoted` one. */
const paramOf = (e) => e.field ?? /`([A-Za-z_][\w.[\]]*)`/.exec(e.message ?? "")?.[1] ?? null;

/**
 * The response an engine error becomes: the status codes OpenAI uses (400 for a bad request, with
 * `context_length_exceeded` for a prompt too long; 503 while the engine cannot answer, which SDKs
 * retry), or undefined for an abort, which is thrown as fetch throws it.
 */
function failure(e) {
  switch (e?.name) {
    case "AbortError":
      return undefined;
    case "UnsupportedFieldError":
      return errorResponse(400, e.message, { param: paramOf(e), code: "unsupported_parameter" });
    case "TypeError":
    case "RangeError":
      return errorResponse(400, e.message, { param: paramOf(e), code: "invalid_value" });
    case "ContextFullError":
      return errorResponse(400, e.message, { param: "messages", code: "context_length_exceeded" });
    case "ModelKindError":
      return errorResponse(400, e.message, { param: "model", code: "model_not_supported" });
    case "EngineCrashedError":
    case "EngineUnloadedError":
      return errorResponse(503, e.message, { type: "server_error", code: "engine_unavailable" });
    default:
      return errorResponse(500, String(e?.message ?? e), { type: "server_error", code: e?.name ?? null });
  }
}

/** Server-sent events from chunks: one `data:` line each, then `data: [DONE]`. Cancelling stops the generation. */
function eventStream(chunks, firstOnes) {
  const encoder = new TextEncoder();
  const event = (data) => encoder.encode(`data: ${data}\n\n`);
  return new ReadableStream({
    start(controller) {
      for (const c of firstOnes) controller.enqueue(event(JSON.stringify(c)));
    },
    async pull(controller) {
      try {
        const { value, done } = await chunks.next();
        if (done) {
          controller.enqueue(event("[DONE]"));
          controller.close();
        } else {
          controller.enqueue(event(JSON.stringify(value)));
        }
      } catch (e) {
        controller.error(e);
      }
    },
    cancel() {
      return chunks.return?.();
    },
  });
}

/**
 * Answers one generation request: the whole JSON, or (streamed) the events, once the prompt has
 * run. Errors found while the prompt runs (a context overflow, a bad range) still get their status
 * code: the stream's response waits for its first token or its end.
 */
async function generate(create, body, signal) {
  let result;
  try {
    result = await create({ ...body, signal });
    // An aborted whole answer is returned with what it had by the engine; fetch rejects instead.
    if (signal.aborted) throw signal.reason;
    if (!body.stream) return new Response(JSON.stringify(result), { status: 200, headers: JSON_TYPE });
    const early = [];
    for (;;) {
      const { value, done } = await result.next();
      if (done) break;
      early.push(value);
      // The role chunk comes before the prompt runs; the next one after.
      const c = value.choices?.[0];
      if (c && (c.delta?.content || c.text || c.finish_reason)) break;
    }
    return new Response(eventStream(result, early), {
      status: 200,
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  } catch (e) {
    const r = failure(e);
    if (!r) throw e;
    return r;
  }
}

/**
 * A `fetch` that answers OpenAI's API from `engine`: an Engine, or the promise of one (answered
 * 503 `model_loading` until it resolves, so an app can hand the SDK its fetch before the download
 * ends; the SDKs retry 503s). `created` is the `models` list's timestamp.
 */
export function createFetch(engine, { created = Math.floor(Date.now() / 1000) } = {}) {
  let ready = null;
  let loadError = null;
  Promise.resolve(engine).then((e) => { ready = e; }, (e) => { loadError = e; });
  const model = () => ({ id: ready.model, object: "model", created, owned_by: "bitnet-web" });

  return async function bitnetFetch(input, init) {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    const route = ["/chat/completions", "/completions", "/embeddings", "/models"].find((r) => path.endsWith(r))
      ?? (/\/models\/[^/]+$/.test(path) ? "/models/{id}" : null);
    if (!route) return errorResponse(404, `Unknown request URL: ${request.method} ${path}. bitnet-web answers /chat/completions, /completions, /embeddings and /models.`, { code: "unknown_url" });
    const method = route.startsWith("/models") ? "GET" : "POST";
    if (request.method !== method) return errorResponse(405, `${request.method} ${path} is not supported; use ${method}.`, { code: "method_not_allowed" });
    if (loadError) return errorResponse(500, `The model failed to load: ${loadError.message ?? loadError}`, { type: "server_error", code: "model_load_failed" });
    if (!ready) return errorResponse(503, "The model is still loading; retry shortly.", { type: "server_error", code: "model_loading", headers: { "retry-after": "1" } });

    if (route === "/models") return new Response(JSON.stringify({ object: "list", data: [model()] }), { headers: JSON_TYPE });
    if (route === "/models/{id}") {
      const id = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
      if (id !== ready.model) return errorResponse(404, `The model '${id}' does not exist; this engine runs '${ready.model}'.`, { param: "model", code: "model_not_found" });
      return new Response(JSON.stringify(model()), { headers: JSON_TYPE });
    }
    let body;
    try {
      body = JSON.parse(await request.text());
    } catch (e) {
      return errorResponse(400, `The request body is not valid JSON: ${e.message}`, { code: "invalid_json" });
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) return errorResponse(400, "The request body must be a JSON object.", { code: "invalid_json" });
    if ("signal" in body) return errorResponse(400, "Unrecognized request argument supplied: signal", { param: "signal", code: "unsupported_parameter" });
    const create = { "/chat/completions": ready.chat.completions.create, "/completions": ready.completions.create, "/embeddings": ready.embeddings.create }[route];
    return generate(create, body, request.signal);
  };
}
