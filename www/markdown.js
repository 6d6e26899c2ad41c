// Replies render as Markdown (code blocks, lists, emphasis, tables) because that is what chat models
// write. Model text is untrusted, so two independent guards stand between it and the page:
//  1. marked (GFM) runs with raw HTML switched off: its HTML tokenizers are disabled, so a tag in the
//     text stays text (`<script>` shows as "<script>"), and images become their alt text (no request
//     leaves the page because a model wrote a URL);
//  2. DOMPurify then keeps only an allowlist of formatting elements and attributes, and returns a
//     DOM fragment, so no string of model text is ever assigned to innerHTML.
// tests/e2e/page.test.mjs proves it with a model whose vocabulary is made of <script>, <img onerror>,
// <iframe>, <svg onload> and javascript: links.
import { Marked } from "./vendor/marked.js";
import DOMPurify from "./vendor/purify.js";

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const marked = new Marked({
  gfm: true,
  breaks: true,
  // Returning nothing makes marked try its next rule, so HTML falls through to plain text.
  tokenizer: { html: () => undefined, tag: () => undefined },
  renderer: { image: ({ text }) => escapeHtml(text) },
});

const ALLOWED_TAGS = ["p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "input"];
const ALLOWED_ATTR = ["href", "title", "class", "start", "align", "type", "checked", "disabled"];

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
  if (node.tagName === "INPUT" && node.getAttribute("type") !== "checkbox") node.remove();
});

/** The Markdown `text` as a sanitized DocumentFragment. */
export function renderMarkdown(text) {
  const html = marked.parse(text, { async: false });
  return DOMPurify.sanitize(html, { ALLOWED_TAGS, ALLOWED_ATTR, RETURN_DOM_FRAGMENT: true });
}
