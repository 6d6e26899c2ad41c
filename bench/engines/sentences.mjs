// Deterministic plain English for the benchmarks' prompts and inputs: short common words, the same
// text on every run and machine.

const SUBJECTS = ["the old farmer", "a young teacher", "the small girl", "my neighbour", "the tired doctor",
  "a quiet student", "the baker", "our captain", "the new driver", "a friendly dog"];
const VERBS = ["walked to", "looked at", "talked about", "painted", "cleaned", "visited", "found", "carried",
  "opened", "left"];
const OBJECTS = ["the red house", "a long road", "the green field", "an open window", "the wooden table",
  "a heavy box", "the city park", "a warm kitchen", "the blue river", "an empty room"];
const TAILS = ["in the morning", "after lunch", "before the rain", "with great care", "for a while",
  "on a cold day", "without a word", "at the end of the week", "near the old bridge", "as the sun went down"];

/** `count` sentences drawn by a fixed LCG from the state `state` (an unsigned 32-bit integer). */
export function sentences(state, count) {
  let s = state >>> 0;
  const pick = (xs) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return xs[(s >>> 16) % xs.length];
  };
  const out = [];
  for (let i = 0; i < count; i++) {
    const t = `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)} ${pick(TAILS)}.`;
    out.push(t[0].toUpperCase() + t.slice(1));
  }
  return out;
}
