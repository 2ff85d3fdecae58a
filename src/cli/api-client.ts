/** A small client for the JSON API, used by the CLI; errors carry the server's message. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields?: Record<string, string>,
    /** The parsed error response, for routes that explain failures in their body. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  /** POST a body as it is (text, CSV, a file's JSON) with its content type. */
  postRaw<T>(path: string, body: string, contentType: string): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  /** POST form fields and one file as multipart/form-data (objects and lists as JSON / repeated fields). */
  postFile<T>(path: string, fields: Record<string, unknown>, file: { filename: string; body: Buffer }): Promise<T>;
  /** DELETE; resolves with the response's JSON body when it has one (a 204 has none). */
  delete<T = void>(path: string): Promise<T>;
  download(path: string): Promise<Buffer>;
}

export function apiClient(server: string, apiKey: string): ApiClient {
  const base = `${server.replace(/\/+$/, '')}/api/v1`;
  const call = async (method: string, path: string, body?: unknown, raw?: { body: string; contentType: string }, form?: FormData): Promise<Response> => {
    let res: Response;
    try {
      const contentType = raw ? raw.contentType : body !== undefined ? 'application/json' : undefined;
      res = await fetch(`${base}${path}`, {
        method,
        // A form sets its own multipart content type (with the boundary).
        headers: { authorization: `Bearer ${apiKey}`, ...(contentType && !form ? { 'content-type': contentType } : {}) },
        body: form ?? (raw ? raw.body : body !== undefined ? JSON.stringify(body) : undefined),
        signal: AbortSignal.timeout(form ? 120_000 : 30_000),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
      throw new ApiError(0, `cannot reach ${server}: ${cause}`);
    }
    if (!res.ok) {
      const payload = (await res.json().catch(() => null)) as { error?: { message?: string; fields?: Record<string, string> } } | null;
      throw new ApiError(res.status, payload?.error?.message ?? `${method} ${path} failed with HTTP ${res.status}`, payload?.error?.fields, payload);
    }
    return res;
  };
  return {
    get: async <T>(path: string) => (await (await call('GET', path)).json()) as T,
    post: async <T>(path: string, body: unknown) => (await (await call('POST', path, body)).json()) as T,
    postRaw: async <T>(path: string, body: string, contentType: string) => (await (await call('POST', path, undefined, { body, contentType })).json()) as T,
    postFile: async <T>(path: string, fields: Record<string, unknown>, file: { filename: string; body: Buffer }) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) {
        if (Array.isArray(value)) for (const v of value) form.append(name, String(v));
        else if (value !== null && typeof value === 'object') form.append(name, JSON.stringify(value));
        else if (value !== undefined) form.append(name, String(value));
      }
      form.append('file', new Blob([file.body]), file.filename);
      return (await (await call('POST', path, undefined, undefined, form)).json()) as T;
    },
    patch: async <T>(path: string, body: unknown) => (await (await call('PATCH', path, body)).json()) as T,
    delete: async <T>(path: string) => {
      const text = await (await call('DELETE', path)).text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
    download: async (path) => Buffer.from(await (await call('GET', path)).arrayBuffer()),
  };
}
