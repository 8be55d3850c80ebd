/** A tiny element builder: h("td", { class: "x" }, "text", child). Text is always set as text. */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "style") {
      // through the CSSOM: the page's CSP forbids style attributes
      for (const decl of String(v).split(";")) {
        const i = decl.indexOf(":");
        if (i > 0) el.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
      }
    } else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An SVG element (charts). */
export function s(tag: string, attrs: Record<string, string | number> = {}, ...children: Node[]): SVGElement {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

export function status(text: string): void {
  const el = document.getElementById("status");
  if (el) el.textContent = text;
}

/** Ask before an action: resolves true on OK (keyboard: Enter confirms, Escape cancels). */
export function confirmAction(text: string, ok = "OK"): Promise<boolean> {
  const dlg = document.getElementById("confirm") as HTMLDialogElement;
  (document.getElementById("confirm-text") as HTMLElement).textContent = text;
  (document.getElementById("confirm-ok") as HTMLButtonElement).textContent = ok;
  dlg.returnValue = "";
  dlg.showModal();
  (document.getElementById("confirm-ok") as HTMLButtonElement).focus();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

export function fmtBytes(n: number): string {
  const units = ["b", "kb", "mb", "gb", "tb"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.round(v * 10) / 10}${units[i]}`;
}

export function fmtAgo(ms: number | undefined, now = Date.now()): string {
  if (!ms) return "never";
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}
