/** The console's forms over plain HTTP, with a cookie jar: for the refusals a browser would never send. */
export class ConsoleClient {
  private readonly cookies = new Map<string, string>();

  constructor(readonly adminUrl: string) {}

  get cookieHeader(): string {
    return [...this.cookies.entries()].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** The Set-Cookie lines of the last answer, as sent (flags included). */
  lastSetCookies: string[] = [];

  async request(
    path: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) headers.cookie = this.cookieHeader;
    if (init.form) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(`${this.adminUrl}${path}`, {
      method: init.method ?? (init.form ? "POST" : "GET"),
      headers,
      redirect: "manual",
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    this.lastSetCookies = response.headers.getSetCookie();
    for (const line of this.lastSetCookies) {
      const [pair = ""] = line.split(";");
      const separator = pair.indexOf("=");
      const name = pair.slice(0, separator);
      const value = pair.slice(separator + 1);
      if (value === "" || /Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** The value of a hidden or text input named `name` in a page. */
  static inputValue(page: string, name: string): string {
    const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
    if (!match?.[1]) throw new Error(`no input ${name} in the page`);
    return match[1];
  }

  /** Opens the sign-in form and posts it; returns the answer. */
  async signIn(secret: string, name = "test"): Promise<Response> {
    const form = await (await this.request("/console/sign-in")).text();
    return this.request("/console/sign-in", { form: { csrf: ConsoleClient.inputValue(form, "csrf"), secret, name } });
  }

  /** The CSRF token of the signed-in session, read from any console page. */
  async csrfToken(): Promise<string> {
    return ConsoleClient.inputValue(await (await this.request("/console/overview")).text(), "csrf");
  }
}
