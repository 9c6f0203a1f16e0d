// The admin API client. The key lives in sessionStorage (this tab only, gone when it closes) and
// is sent only as a Bearer header to this origin. Every 401 ends the session.

const KEY_STORAGE = "wabot.console.key";
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.message === "string" ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  // 422s: [{path: "llm_params.temperature", msg}], from detail[].loc without its "body" / "query" head.
  get fieldErrors() {
    const detail = Array.isArray(this.body.detail) ? this.body.detail : [];
    return detail.map((item) => {
      const loc = Array.isArray(item.loc) ? item.loc.slice() : [];
      if (["body", "query", "path"].includes(loc[0])) loc.shift();
      return { path: loc.join("."), msg: String(item.msg || item.type || "invalid") };
    });
  }
}

export const session = {
  get key() {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch {
      return null;
    }
  },
  set key(value) {
    try {
      if (value) sessionStorage.setItem(KEY_STORAGE, value);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch { /* storage disabled: the key is simply not kept */ }
  },
  onUnauthorized(callback) {
    onUnauthorized = callback;
  },
};

export async function request(method, path, body, key = session.key) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    });
  } catch {
    throw new ApiError(0, { message: "network" });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    // Only the kept key's rejection ends the session (a key being tried at sign-in is not kept yet).
    if (response.status === 401 && key && key === session.key) onUnauthorized(error);
    throw error;
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  // Sign-in: checks a key before it is kept.
  getWith: (key) => request("GET", "/admin/me", undefined, key),
  post: (path, body) => request("POST", path, body),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
};

export function instancePath(id, suffix = "") {
  return `/admin/whatsapp/instances/${encodeURIComponent(id)}${suffix}`;
}
