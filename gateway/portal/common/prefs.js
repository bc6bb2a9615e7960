// The reader's preferences: language and the elder-friendly mode (适老化). These two, and
// nothing else (never a token), are remembered in localStorage.

const LANG_KEY = "smartcity.lang";
const ELDER_KEY = "smartcity.elder";

function read(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null; // storage refused (private mode, policy): the defaults apply
  }
}

function write(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    /* not remembered, still applied to this page */
  }
}

export const preferences = {
  get lang() {
    return read(LANG_KEY) === "en" ? "en" : "zh-CN";
  },
  set lang(value) {
    write(LANG_KEY, value === "en" ? "en" : "zh-CN");
  },
  get elder() {
    return read(ELDER_KEY) === "on";
  },
  set elder(on) {
    write(ELDER_KEY, on ? "on" : "off");
  },
};

/** Apply the elder-friendly mode to the document (larger text, high contrast). */
export function applyElder() {
  document.documentElement.classList.toggle("elder", preferences.elder);
}

/** Fewer items per screen in the elder-friendly mode. */
export function pageSize() {
  return preferences.elder ? 5 : 10;
}
