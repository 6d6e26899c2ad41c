// Saved conversations: kept in this browser's IndexedDB (through idb-keyval), one record per
// conversation, so a reload or a second visit finds them. Nothing leaves the device; export writes a
// JSON file the user keeps. Where IndexedDB refuses (some private modes), the page keeps chatting and
// says that conversations will not be saved.
import { createStore, get, set, del, values } from "./vendor/idb-keyval.js";

const store = createStore("bitnet-web-chat", "conversations");

/** Export format; `version` changes only when a field's meaning does. */
export const EXPORT_FORMAT = "bitnet-web.conversation";
export const EXPORT_VERSION = 1;

const newId = () => globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

/** A new, empty conversation (not saved until it has a message). */
export function newConversation(system) {
  const now = Date.now();
  return { id: newId(), title: "", createdAt: now, updatedAt: now, system, messages: [] };
}

/** A title from the first user message, until the user names it. */
export function titleOf(c) {
  if (c.title) return c.title;
  const first = c.messages.find((m) => m.role === "user")?.content.replace(/\s+/g, " ").trim() ?? "";
  return first ? (first.length > 48 ? `${first.slice(0, 47)}…` : first) : "New conversation";
}

/** Every saved conversation, the most recently used first. */
export async function listConversations() {
  return (await values(store)).sort((a, b) => b.updatedAt - a.updatedAt);
}

export const loadConversation = (id) => get(id, store);

/** Saves `c` as it is now; messages still being written are saved with what they have so far. */
export async function saveConversation(c) {
  c.updatedAt = Date.now();
  // Structured clone of plain data only: the page's working fields (views, flags) stay out.
  const messages = c.messages.map(({ role, content, stopped, error, meta }) => ({ role, content, stopped, error, meta }));
  const { id, title, createdAt, updatedAt, system, contextStart } = c;
  await set(id, { id, title, createdAt, updatedAt, system, contextStart, messages }, store);
}

export const deleteConversation = (id) => del(id, store);

/** The conversation as a JSON file's text. */
export function exportConversation(c) {
  return JSON.stringify({
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    title: titleOf(c),
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date(c.updatedAt).toISOString(),
    system: c.system || null,
    messages: c.messages.filter((m) => !m.pending && !m.error).map(({ role, content }) => ({ role, content })),
  }, null, 2);
}
