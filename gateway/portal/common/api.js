// The gateway's documented routes, called as any front end would: JSON in, JSON or
// RFC 9457 problem+json out. A signed-in call carries the access token the sign-in module
// keeps in memory.

import { preferences } from "./prefs.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    // [{field, rule?, detail}] for a 422 naming each broken rule
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.traceId = problem.trace_id || "";
  }
}

/**
 * Call `path` on the gateway. Options: method, query (object), body (JSON), token,
 * idempotencyKey.
 */
export async function call(path, { method = "GET", query, body, token, idempotencyKey } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== "" && value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json", "Accept-Language": preferences.lang };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { title: "network", detail: String(error) });
  }
  const text = await response.text();
  let json = {};
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = { detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}
