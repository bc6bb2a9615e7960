// The verifier's page (验证), open to anyone without signing in: paste a presentation's text,
// or scan its QR code with the camera where the browser offers both BarcodeDetector and
// getUserMedia (the button is hidden otherwise); POST /public/v1/licences/verify says whether
// it is valid and what the holder chose to reveal, and the page explains every result.

import { call } from "../common/api.js";
import { departmentList, departmentName } from "../common/departments.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { announce, notice } from "../common/shell.js";
import { errorText, when } from "./form.js";
import { claimLabel, claimValue, licenceTypes, typeName } from "./licence_types.js";

// Every result VerifyPresentation answers (proto/smartcity/licences/v1/licences.proto).
export const RESULTS = [
  "valid",
  "suspended",
  "revoked",
  "superseded",
  "expired",
  "not_yet_valid",
  "presentation_expired",
  "replayed",
  "forged",
  "malformed",
  "unknown_status",
];
const SCAN_EVERY_MS = 250;

function resultLabel(result) {
  return tOr(`public.verify.result.${result}`, result);
}

async function verdictPanel(verdict) {
  const [types, departments] = await Promise.all([licenceTypes(), departmentList()]);
  const type = types[verdict.licence_type];
  const valid = verdict.result === "valid";
  const about = [
    ["public.verify.licence", verdict.licence_type ? typeName(type, verdict.licence_type) : ""],
    ["public.verify.issuer", verdict.issuer_department ? departmentName(verdict.issuer_department, departments) : ""],
    ["public.verify.licenceId", verdict.licence_id],
    ["public.verify.validUntil", valid ? verdict.valid_until || t("public.verify.longTerm") : ""],
    ["public.verify.presentationExpires", verdict.expire_time ? when(verdict.expire_time) : ""],
  ].filter(([, value]) => value);
  const revealed = Object.entries(verdict.disclosed || {});
  return h(
    "section",
    { class: `panel verdict ${valid ? "ok" : "bad"}`, "aria-labelledby": "verdict-heading", id: "verdict" },
    h("h2", { id: "verdict-heading", text: t("public.verify.result") }),
    h("p", {}, h("span", { class: valid ? "badge ok big" : "badge bad big", id: "verdict-result", "data-result": verdict.result, text: resultLabel(verdict.result) })),
    h("p", { id: "verdict-explain", text: tOr(`public.verify.result.${verdict.result}.explain`, verdict.reason || "") }),
    about.length ? h("dl", { class: "meta" }, about.map(([key, value]) => [h("dt", { text: t(key) }), h("dd", { text: value })])) : null,
    valid
      ? [
          h("h3", { id: "revealed-heading", text: t("public.verify.revealed") }),
          revealed.length
            ? h(
                "dl",
                { class: "meta", id: "revealed", "aria-labelledby": "revealed-heading" },
                revealed.map(([name, value]) => [
                  h("dt", { "data-claim": name, text: claimLabel(type, name) }),
                  h("dd", { text: claimValue(value) }),
                ]),
              )
            : h("p", { text: t("public.verify.revealed.none") }),
        ]
      : null,
  );
}

function meanings() {
  return h(
    "details",
    { class: "panel meanings" },
    h("summary", { text: t("public.verify.meanings") }),
    h(
      "dl",
      { class: "meta" },
      RESULTS.map((result) => [
        h("dt", { text: resultLabel(result) }),
        h("dd", { text: t(`public.verify.result.${result}.explain`) }),
      ]),
    ),
  );
}

/** True when this browser can scan with the camera (Chromium on Android, say). */
async function canScan() {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) return false;
  try {
    return (await window.BarcodeDetector.getSupportedFormats()).includes("qr_code");
  } catch {
    return false;
  }
}

/** The camera's scanner: a button that opens the camera and puts what it reads in `box`. */
function scanner(box, onRead, outcome) {
  const video = h("video", { class: "scanner", muted: true, playsinline: true, "aria-label": t("public.verify.scan.video") });
  const hint = h("p", { class: "hint", text: t("public.verify.scan.hint") });
  const area = h("div", { hidden: true }, video, hint);
  const button = h("button", { type: "button", class: "secondary", id: "verify-scan", text: t("public.verify.scan") });
  let stream = null;
  let timer = 0;
  function stop() {
    window.clearInterval(timer);
    for (const track of stream?.getTracks() || []) track.stop();
    stream = null;
    area.hidden = true;
    button.textContent = t("public.verify.scan");
  }
  button.addEventListener("click", async () => {
    if (stream) {
      stop();
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (error) {
      fill(outcome, notice(t("public.verify.scan.failed", { reason: error.message || error.name }), { error: true }));
      return;
    }
    video.srcObject = stream;
    await video.play();
    area.hidden = false;
    button.textContent = t("public.verify.scan.stop");
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    timer = window.setInterval(async () => {
      if (!button.isConnected) {
        stop(); // the reader left the page: the camera goes off
        return;
      }
      const found = await detector.detect(video).catch(() => []);
      if (found.length) {
        stop();
        box.value = found[0].rawValue;
        onRead();
      }
    }, SCAN_EVERY_MS);
  });
  return [button, area];
}

export async function verifyView(main) {
  const box = h("textarea", {
    id: "verify-text",
    name: "presentation",
    rows: "5",
    spellcheck: "false",
    autocomplete: "off",
    "aria-describedby": "verify-text-hint",
    class: "copyable",
  });
  const outcome = h("div", { id: "verify-outcome" });
  const form = h(
    "form",
    { class: "panel", novalidate: true, "aria-label": t("public.verify.title") },
    h(
      "div",
      { class: "field" },
      h("label", { for: "verify-text", text: t("public.verify.text") }),
      h("p", { id: "verify-text-hint", class: "hint", text: t("public.verify.text.hint") }),
      box,
    ),
  );
  async function verify() {
    const presentation = box.value.trim();
    if (!presentation) {
      fill(outcome, notice(t("public.verify.empty"), { error: true }));
      box.focus();
      return;
    }
    try {
      const verdict = await call("/public/v1/licences/verify", { method: "POST", body: { presentation } });
      fill(outcome, await verdictPanel(verdict));
      announce(resultLabel(verdict.result));
      outcome.querySelector("h2").setAttribute("tabindex", "-1");
      outcome.querySelector("h2").focus();
    } catch (error) {
      fill(outcome, notice(errorText(error), { error: true }));
    }
  }
  const actions = h("div", { class: "actions" }, h("button", { type: "submit", id: "verify-submit", text: t("public.verify.submit") }));
  form.append(actions);
  if (await canScan()) {
    const [scanButton, scanArea] = scanner(box, verify, outcome);
    actions.append(scanButton);
    form.append(scanArea);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    verify();
  });
  fill(main, h("h1", { text: t("public.verify.title") }), h("p", { text: t("public.verify.intro") }), form, outcome, meanings());
}
