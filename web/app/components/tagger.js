// Tagging a selected segment: a text box with completion (the search aggregator's `suggest`
// when it answers, else tags already seen), saved with createAnnotations.
import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";
import { gql } from "../api.js";
import { suggestTags } from "../search.js";
import { parseTags, seconds } from "../text.js";
import { ANNOTATION_FIELDS } from "../views/annotations.js";

const CREATE = `mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) {
    annotations { ${ANNOTATION_FIELDS} }
    userErrors { index field code message }
  }
}`;

export function Tagger({ sound, selection, known, onSaved, onCancel }) {
  const [text, setText] = useState("");
  const [options, setOptions] = useState([]);
  const [problem, setProblem] = useState(null);
  const [saving, setSaving] = useState(false);
  const words = text.split(/[,\s]+/);
  const last = words[words.length - 1] || "";

  useEffect(() => {
    let live = true;
    const local = known.filter((t) => last && t.toLowerCase().startsWith(last.toLowerCase()));
    setOptions(local.slice(0, 10));
    suggestTags(last).then((remote) => {
      if (live && remote.length) setOptions([...new Set([...remote, ...local])].slice(0, 10));
    });
    return () => {
      live = false;
    };
  }, [last]);

  async function save(event) {
    event.preventDefault();
    const tags = parseTags(text);
    if (!tags.length) {
      setProblem("type at least one tag");
      return;
    }
    setSaving(true);
    setProblem(null);
    try {
      const input = [{ sound, startSeconds: selection.start, durationSeconds: selection.end - selection.start, tags }];
      const data = await gql(CREATE, { input });
      const errors = data.createAnnotations.userErrors;
      if (errors.length) setProblem(errors.map((e) => `${e.field || "input"}: ${e.message}`).join("; "));
      else onSaved(data.createAnnotations.annotations[0]);
    } catch (error) {
      setProblem(`not saved: ${error.message}`);
    } finally {
      setSaving(false);
    }
  }

  const complete = (tag) => setText([...words.slice(0, -1), tag].join(" ") + " ");
  return html`<form class="tagger" onSubmit=${save} data-testid="tagger">
    <span>Tag ${seconds(selection.start)} – ${seconds(selection.end)}:</span>
    <input name="tags" autocomplete="off" placeholder="tags, space separated" value=${text}
      onInput=${(e) => setText(e.target.value)} data-testid="tag-input" />
    <button type="submit" disabled=${saving} data-testid="save-tags">Save</button>
    <button type="button" onClick=${onCancel}>Cancel</button>
    ${options.length > 0 && html`<span class="suggestions" data-testid="suggestions">${options.map(
      (tag) => html`<button type="button" class="tag" onClick=${() => complete(tag)}>${tag}</button>`,
    )}</span>`}
    ${problem && html`<span class="problem inline" role="alert">${problem}</span>`}
  </form>`;
}
