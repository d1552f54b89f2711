// Sign-in: name and password go to `login`; only the API key it returns is kept (in
// sessionStorage). The password leaves this form only in that one request.
import { useState } from "preact/hooks";
import { html } from "../html.js";
import { authProblem, gql, signIn } from "../api.js";
import { navigate } from "../router.js";

const LOGIN = `mutation($name: String!, $password: String!) {
  login(name: $name, password: $password) { apiKey userErrors { field code message } }
}`;

export function SignInView() {
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const name = form.elements.name.value.trim();
    const password = form.elements.password.value;
    setBusy(true);
    setProblem(null);
    try {
      const data = await gql(LOGIN, { name, password }, { auth: false });
      const { apiKey, userErrors } = data.login;
      if (userErrors.length || !apiKey) {
        setProblem(userErrors.map((e) => e.message).join("; ") || "sign-in failed");
        return;
      }
      form.elements.password.value = "";
      signIn(apiKey, name);
      navigate(new URLSearchParams(location.search).get("next") || "/");
    } catch (error) {
      setProblem(error.message);
    } finally {
      setBusy(false);
    }
  }

  return html`<section class="signin">
    <h1>Sign in</h1>
    ${authProblem.value && html`<p class="problem" data-testid="signin-needed">This server needs you to sign in: ${authProblem.value}</p>`}
    <form onSubmit=${submit} data-testid="signin-form">
      <label>Name <input name="name" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
    ${problem && html`<p class="problem" role="alert" data-testid="signin-problem">${problem}</p>`}
    <p class="muted">Humans sign in with a password; bots use their API key as a Bearer token.</p>
  </section>`;
}
