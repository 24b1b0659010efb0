/**
 * @module verifier/page/app
 *
 * The browser verification page's script (bundled into one static HTML file by
 * src/service/verify-page-build.mjs; the service serves it at `/verify`). A bundle file dropped anywhere on
 * the page or chosen with the file input is read and verified at once; pasted text is verified with the
 * Verify button. Trust anchors (keys as `GET /v1/circuits` answers them, operator key) come from the page's
 * `zktally-trust` JSON block when the service filled it in, and stay editable. The verdict is rendered with
 * `textContent` only: text from a bundle is never interpreted as HTML. Nothing is sent anywhere (the
 * service's page forbids connections by CSP: `connect-src 'none'`).
 */
import { type PageVerdict, pageVerdict } from "./verdict.ts";

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const field = (id: string) => element<HTMLInputElement | HTMLTextAreaElement>(id);

/** Pre-fills the trust fields from the page's JSON block (written by the service; empty in the static file). */
function loadTrust(): void {
  const text = (document.getElementById("zktally-trust")?.textContent ?? "").trim();
  if (!text.startsWith("{")) return; // the static file: its marker, no trust anchors
  const trust = JSON.parse(text) as { operatorKey?: string; circuits?: unknown };
  if (typeof trust.operatorKey === "string") field("operator-key").value = trust.operatorKey;
  if (trust.circuits !== undefined)
    field("keys").value = JSON.stringify({ circuits: trust.circuits }, null, 2);
}

function render(verdict: PageVerdict): void {
  const result = element("result");
  result.dataset.status = verdict.status;
  result.hidden = false;
  element("verdict").textContent = verdict.headline;
  const warning = element("insecure-warning");
  warning.hidden = verdict.insecureWarning === undefined;
  warning.textContent = verdict.insecureWarning ?? "";
  const facts = element("facts");
  facts.replaceChildren(
    ...verdict.facts.flatMap(([label, value]) => {
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      detail.textContent = value;
      return [term, detail];
    }),
  );
  const notes = element("warnings");
  notes.replaceChildren(
    ...verdict.warnings.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}

function verifyNow(): void {
  render(
    pageVerdict({
      bundle: field("bundle").value,
      keys: field("keys").value,
      operatorKey: field("operator-key").value,
      nonce: field("nonce").value,
      allowInsecureKeys: element<HTMLInputElement>("allow-insecure").checked,
    }),
  );
}

async function verifyFile(file: File): Promise<void> {
  field("bundle").value = await file.text();
  element("bundle-name").textContent = file.name;
  verifyNow();
}

function wire(): void {
  element("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    verifyNow();
  });
  const chooser = element<HTMLInputElement>("bundle-file");
  chooser.addEventListener("change", () => {
    const file = chooser.files?.[0];
    if (file !== undefined) void verifyFile(file);
  });
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) void verifyFile(file);
  });
}

loadTrust();
wire();
document.body.dataset.ready = "true";
