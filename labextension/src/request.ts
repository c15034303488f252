// The one way the extension talks to its server half (conducto_nb/lab/handlers.py): Jupyter's
// own connection settings, so the token and the xsrf cookie go along as with any API call.
import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";

/** An error the server explained: its `{"error": ...}` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** GET (or, with `body`, POST) `conducto-nb/<endpoint>`; the parsed JSON answer. */
export async function requestAPI<T>(endpoint: string, body?: unknown): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, "conducto-nb", endpoint);
  const init: RequestInit = body === undefined ? {} : { method: "POST", body: JSON.stringify(body) };
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text.length ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!response.ok) {
    const message = (data as { error?: string; message?: string } | null)?.error;
    throw new ApiError(response.status, message ?? `${response.status} ${response.statusText}`);
  }
  return data as T;
}

/** The path of one pipeline's endpoint, its id escaped. */
export function pipelinePath(id: string, ...rest: string[]): string {
  return ["pipelines", encodeURIComponent(id), ...rest].join("/");
}
