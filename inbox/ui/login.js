import { html } from "./html.js";
import { useState } from "preact/hooks";
import { login, notice } from "../lib/state.js";

export function Login() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email.trim(), password);
    } catch (failure) {
      setError(failure.status === 429 ? "Too many attempts. Wait a moment and try again." : failure.message);
    } finally {
      setBusy(false);
    }
  };
  const info = notice.value?.kind === "info" ? notice.value.text : null;
  return html`
    <main class="login">
      <form class="login-card" onSubmit=${submit} aria-labelledby="login-title">
        <div class="brand" aria-hidden="true">●</div>
        <h1 id="login-title">Sign in to Switchboard</h1>
        ${info && html`<p class="info" role="status">${info}</p>`}
        <label for="login-email">Email</label>
        <input id="login-email" type="email" autocomplete="username" required value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} />
        <label for="login-password">Password</label>
        <input id="login-password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  `;
}
