// Runs the home page's script under node with a minimal DOM: clicks its buttons as a
// person would and prints, as JSON, each step's message and the requests it sent.
// Usage: node home_page_script.js SCRIPT_FILE BASE_URL TOKEN PROJECT...
// (the projects whose buttons the page lists; they must include alpha and list)
"use strict";
const fs = require("fs");

const [scriptFile, base, token, ...projects] = process.argv.slice(2);

class Element {
  constructor(dataset = {}) {
    this.dataset = dataset;
    this.value = "";
    this.textContent = "";
    this.disabled = false;
    this.listeners = [];
  }
  addEventListener(type, listener) {
    if (type === "click") this.listeners.push(listener);
  }
  focus() {}
  click() {
    for (const listener of this.listeners) listener();
  }
}

const byId = {
  adminToken: new Element(),
  invalidateList: new Element(),
  invalidateMessage: new Element(),
  projectName: new Element(),
  invalidateProject: new Element(),
};
const buttons = projects.map((project) => new Element({ project }));
global.document = {
  getElementById: (id) => byId[id] || null,
  querySelectorAll: () => buttons,
};

const sent = [];
const realFetch = global.fetch;
global.fetch = async (url, options) => {
  sent.push({ url, method: options.method, authorization: options.headers.Authorization || null });
  return realFetch(new URL(url, base), options);
};

eval(fs.readFileSync(scriptFile, "utf8"));

async function settled() {
  for (let i = 0; i < 200 && /\.\.\.$/.test(byId.invalidateMessage.textContent); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return byId.invalidateMessage.textContent;
}

async function step(name, act) {
  const before = sent.length;
  act();
  const message = await settled();
  return { name, message, requests: sent.slice(before) };
}

(async () => {
  const button = (project) => buttons.find((b) => b.dataset.project === project);
  const steps = [];
  steps.push(await step("no token", () => byId.invalidateList.click()));
  byId.adminToken.value = "wrong";
  steps.push(await step("wrong token", () => button("alpha").click()));
  byId.adminToken.value = token;
  steps.push(await step("list", () => byId.invalidateList.click()));
  steps.push(await step("alpha", () => button("alpha").click()));
  steps.push(await step("project named list", () => button("list").click()));
  byId.projectName.value = " Beta ";
  steps.push(await step("by name", () => byId.invalidateProject.click()));
  byId.projectName.value = "list";
  steps.push(await step("list by name", () => byId.invalidateProject.click()));
  console.log(JSON.stringify(steps));
})();
