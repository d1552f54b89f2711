// Loading a sound's annotations (all pages) and telling drawable arrays from segments.

import { gql } from "../api.js";

export const ANNOTATION_FIELDS = "id startSeconds endSeconds tags dataUrl metadata createdBy { id name type }";
const PAGE = `query($sound: ID!, $after: String) {
  annotations(first: 500, after: $after, filter: {sound: $sound}) {
    pageInfo { endCursor hasNextPage }
    edges { cursor node { ${ANNOTATION_FIELDS} } }
  }
}`;
const LIMIT = 5000;

/** {items, cursor}: up to LIMIT annotations of `sound` in id order, and the last cursor. */
export async function loadAnnotations(sound) {
  let after = null;
  let items = [];
  for (;;) {
    const data = await gql(PAGE, { sound, after });
    const page = data.annotations;
    items = items.concat(page.edges.map((e) => e.node));
    if (page.pageInfo.endCursor) after = page.pageInfo.endCursor;
    if (!page.pageInfo.hasNextPage || items.length >= LIMIT) return { items, cursor: after, truncated: page.pageInfo.hasNextPage };
  }
}

/** A (frames, bins) array a featurebot published with a time axis: drawable by the layer. */
export function isFeature(a) {
  const m = a.metadata;
  return Boolean(a.dataUrl && m && Array.isArray(m.shape) && m.shape.length === 2 && m.axes && m.axes[0] === "time" && m.axes[1] !== "minMax");
}

/** The peaks bot's array: (blocks, 2) of min/max. */
export function isPeaks(a) {
  const m = a.metadata;
  return Boolean(a.dataUrl && m && Array.isArray(m.axes) && m.axes[1] === "minMax");
}

/** Segments shown as regions: everything but the bots' arrays (features, peaks, curves). */
export function isSegment(a) {
  return !(a.dataUrl && a.metadata && Array.isArray(a.metadata.axes));
}
