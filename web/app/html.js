// htm bound to Preact: tagged templates whose ${values} are always text or attributes, never
// parsed as HTML (so user-written titles, tags and aboutMe cannot inject markup).
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);
