// What the server offers, read once from GET /1.0's api_extensions.
export const caps = { instancesQuery: false, extensions: [], server: null };
export function setServer(s) {
  caps.server = s;
  caps.extensions = s.api_extensions || [];
  caps.instancesQuery = caps.extensions.includes('lodge_instances_query');
}
