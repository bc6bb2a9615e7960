// My demands for open data and their answers (GET /public/v1/catalog/demands/mine): what I
// asked, where it stands, which department answers and by when, and the answer with its
// outcome (opened, with a link to the dataset; planned; declined, with the reason).

import { call } from "../common/api.js";
import * as auth from "../common/auth.js";
import { departmentName } from "../common/departments.js";
import { fill, h } from "../common/dom.js";
import { t, tOr } from "../common/i18n.js";
import { pageSize } from "../common/prefs.js";
import { href, notice } from "../common/shell.js";
import { errorText, when } from "./form.js";

function demandCard(demand, departments) {
  const state = tOr(`demand_state.${demand.state}`, demand.state);
  return h(
    "li",
    { class: "panel result my-demand", "data-state": demand.state },
    h("h3", { text: demand.title }),
    h(
      "ul",
      { class: "tags", "aria-label": t("result.facts") },
      h("li", { text: state }),
      demand.department ? h("li", { text: departmentName(demand.department, departments) }) : null,
      demand.due_time && demand.state !== "answered"
        ? h("li", { text: t("public.demands.due", { date: when(demand.due_time, { time: false }) }) })
        : null,
      demand.overdue ? h("li", { class: "badge bad", text: t("demand.overdue") }) : null,
      h("li", { text: t("public.demands.asked", { date: when(demand.create_time, { time: false }) }) }),
    ),
    demand.answer
      ? h(
          "div",
          { class: "answer" },
          h("p", {}, h("strong", { text: `${tOr(`public.demands.outcome.${demand.outcome}`, t("demand.answer"))}: ` }), demand.answer),
          demand.outcome === "opened" && demand.resource_id
            ? h("p", {}, h("a", { href: href("dataset", { id: demand.resource_id }), text: t("public.demands.openedLink") }))
            : null,
          demand.answer_time ? h("p", { class: "hint", text: t("public.demands.answeredOn", { date: when(demand.answer_time) }) }) : null,
        )
      : h("p", { class: "hint", text: t("public.demands.waiting") }),
  );
}

/** The section "my demands and their answers"; it reloads when a demand is sent. */
export function myDemandsSection(departments) {
  const list = h("ul", { class: "results", id: "my-demands", "aria-labelledby": "my-demands-heading" });
  async function load() {
    try {
      const answer = await call("/public/v1/catalog/demands/mine", {
        token: await auth.accessToken(),
        query: { page_size: pageSize() },
      });
      fill(list, answer.demands.length ? answer.demands.map((d) => demandCard(d, departments)) : h("li", { text: t("public.demands.noneMine") }));
    } catch (error) {
      fill(list, h("li", {}, notice(errorText(error), { error: true })));
    }
  }
  const section = h(
    "section",
    { "aria-labelledby": "my-demands-heading" },
    h("h2", { id: "my-demands-heading", text: t("public.demands.mine") }),
    list,
  );
  return { section, load };
}
