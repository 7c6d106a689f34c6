// sealbox's secrets panel for JupyterLab 4.
//
// The panel talks only to the Jupyter server it was loaded from (`/sealbox/api/...`, through
// ServerConnection: Jupyter's own authentication and XSRF header). The server extension calls sealbox
// with the session's credential; no token and no value ever comes back here. A new secret's value is
// read from its password field once, sent once, and the field is cleared before the answer arrives.
// Everything is drawn with textContent: nothing the server sends is parsed as HTML.

import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

interface ILabSecret {
  ref: string;
  name: string;
  owner: string;
  access: string;
  kind: string;
  description: string;
  expires_at: string | null;
  project?: string | null;
  shared_by?: string | null;
  held_as?: string | null;
}

interface ILabHeld {
  name: string;
  secret: string;
  kind: string;
}

interface ILabSecrets {
  user: string | null;
  connected: boolean;
  problem: string;
  session_id: string | null;
  secrets: ILabSecret[];
  held: ILabHeld[];
}

interface ILabSwitches {
  notebook: string;
  off: string[];
}

const LOCK_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">' +
  '<path class="jp-icon3" fill="#616161" d="M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 ' +
  '2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5zm-3 5a3 3 0 0 1 6 0v3H9V7zm3 7a2 2 0 0 1 1 3.7V20h-2v-2.3A2 2 0 0 1 12 14z"/></svg>';

const lockIcon = new LabIcon({ name: 'sealbox:lock', svgstr: LOCK_SVG });

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = settings.baseUrl + 'sealbox/api/' + path;
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    throw new Error(data.message || `HTTP ${response.status}`);
  }
  return data as T;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

/** The line that reads a secret in Python. */
export function codeFor(name: string): string {
  return `get_secret(${JSON.stringify(name)})`;
}

class SecretsPanel extends Widget {
  constructor(private tracker: INotebookTracker | null) {
    super();
    this.id = 'sealbox-panel';
    this.addClass('sb-panel');
    this.title.icon = lockIcon;
    this.title.caption = 'sealbox secrets';
    const header = el('div', 'sb-header');
    header.append(el('h2', 'sb-title', 'Secrets'));
    const refresh = el('button', 'sb-button sb-refresh', 'Refresh');
    refresh.onclick = () => void this.refresh();
    header.append(refresh);
    this.status = el('p', 'sb-status', 'Loading…');
    this.status.setAttribute('role', 'status');
    this.notebookLine = el('p', 'sb-notebook');
    this.list = el('ul', 'sb-list');
    this.node.append(header, this.status, this.notebookLine, this.list, this.addForm());
    tracker?.currentChanged.connect(() => void this.refresh());
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  /** The notebook the switches apply to: the session path its kernel sees as JPY_SESSION_NAME. */
  private notebook(): string | null {
    const current = this.tracker?.currentWidget;
    return current ? current.sessionContext.path || current.context.path : null;
  }

  async refresh(): Promise<void> {
    const notebook = this.notebook();
    try {
      const [data, switches] = await Promise.all([
        call<ILabSecrets>('secrets'),
        notebook
          ? call<ILabSwitches>(
              'switches?notebook=' + encodeURIComponent(notebook)
            )
          : Promise.resolve({ notebook: '', off: [] as string[] })
      ]);
      this.render(data, new Set(switches.off), notebook);
    } catch (error) {
      this.status.textContent = `sealbox: ${(error as Error).message}`;
    }
  }

  private render(data: ILabSecrets, off: Set<string>, notebook: string | null): void {
    this.status.textContent = data.connected
      ? `${data.user}: ${data.secrets.length} secret(s) you may use; this session holds ${data.held.length}`
      : `${data.problem} (this session holds ${data.held.length})`;
    this.notebookLine.textContent = notebook
      ? `Switches apply to ${notebook}`
      : 'Open a notebook to switch secrets on or off for it';
    this.list.replaceChildren();
    const listed = new Set(data.secrets.map(s => s.held_as).filter(Boolean));
    for (const secret of data.secrets) {
      this.list.append(this.row(secret, off, notebook));
    }
    for (const item of data.held) {
      if (!listed.has(item.name)) {
        this.list.append(
          this.row(
            {
              ref: item.secret,
              name: item.secret,
              owner: '',
              access: '',
              kind: item.kind,
              description: '',
              expires_at: null,
              held_as: item.name
            },
            off,
            notebook
          )
        );
      }
    }
  }

  private row(
    secret: ILabSecret,
    off: Set<string>,
    notebook: string | null
  ): HTMLLIElement {
    const item = el('li', 'sb-secret');
    item.dataset.ref = secret.ref;
    const title = el('div', 'sb-name', secret.shared_by ? secret.ref : secret.name);
    title.append(el('span', 'sb-kind', secret.kind));
    item.append(title);
    const facts: string[] = [];
    if (secret.description) {
      facts.push(secret.description);
    }
    if (secret.shared_by) {
      facts.push(`shared by ${secret.shared_by} (${secret.access})`);
    }
    if (secret.project) {
      facts.push(`project ${secret.project}`);
    }
    if (secret.expires_at) {
      facts.push(`expires ${secret.expires_at.slice(0, 16).replace('T', ' ')}`);
    }
    if (facts.length) {
      item.append(el('div', 'sb-facts', facts.join(' · ')));
    }
    const heldAs = secret.held_as;
    if (!heldAs) {
      item.append(el('div', 'sb-held sb-not-held', 'not in this session'));
      return item;
    }
    item.classList.add('sb-in-session');
    item.append(el('div', 'sb-held', `in this session as ${heldAs}`));
    const actions = el('div', 'sb-actions');
    const label = el('label', 'sb-switch');
    const toggle = el('input', 'sb-toggle');
    toggle.type = 'checkbox';
    toggle.setAttribute('role', 'switch');
    toggle.checked = !off.has(heldAs);
    toggle.disabled = notebook === null;
    toggle.setAttribute('aria-label', `${heldAs} on for this notebook`);
    toggle.onchange = () => void this.setSwitch(heldAs, toggle);
    label.append(toggle, document.createTextNode(' on for this notebook'));
    const copy = el('button', 'sb-button sb-copy', 'Copy');
    copy.title = `Copy ${codeFor(heldAs)}`;
    copy.onclick = () => {
      Clipboard.copyToSystem(codeFor(heldAs));
      this.status.textContent = `copied ${codeFor(heldAs)}`;
    };
    const insert = el('button', 'sb-button sb-insert', 'Insert');
    insert.title = `Insert ${codeFor(heldAs)} into the active cell`;
    insert.onclick = () => this.insert(heldAs);
    actions.append(label, copy, insert);
    item.append(actions);
    return item;
  }

  private async setSwitch(name: string, toggle: HTMLInputElement): Promise<void> {
    const notebook = this.notebook();
    if (!notebook) {
      return;
    }
    toggle.disabled = true;
    try {
      const answer = await call<ILabSwitches>('switches', {
        method: 'PUT',
        body: JSON.stringify({ notebook, name, on: toggle.checked })
      });
      toggle.checked = !answer.off.includes(name);
      this.status.textContent = `${name} is ${toggle.checked ? 'on' : 'off'} for ${notebook}`;
    } catch (error) {
      toggle.checked = !toggle.checked;
      this.status.textContent = `sealbox: ${(error as Error).message}`;
    } finally {
      toggle.disabled = false;
    }
  }

  private insert(name: string): void {
    const cell = this.tracker?.activeCell;
    if (!cell) {
      this.status.textContent = 'Open a notebook and select a cell to insert into';
      return;
    }
    const line = `from sealbox import get_secret\n${name.replace(/\W/g, '_')} = ${codeFor(name)}\n`;
    const source = cell.model.sharedModel.getSource();
    cell.model.sharedModel.setSource(
      source && !source.endsWith('\n') ? `${source}\n${line}` : source + line
    );
    this.status.textContent = `inserted ${codeFor(name)}`;
  }

  private addForm(): HTMLFormElement {
    const form = el('form', 'sb-add');
    form.append(el('h3', 'sb-subtitle', 'Add a secret'));
    const name = el('input', 'sb-input sb-add-name');
    name.placeholder = 'name';
    name.required = true;
    name.setAttribute('aria-label', 'New secret name');
    const description = el('input', 'sb-input sb-add-description');
    description.placeholder = 'description (optional)';
    description.setAttribute('aria-label', 'New secret description');
    const value = el('input', 'sb-input sb-add-value');
    value.type = 'password';
    value.autocomplete = 'new-password';
    value.placeholder = 'value (sent once, never shown again)';
    value.required = true;
    value.setAttribute('aria-label', 'New secret value');
    const submit = el('button', 'sb-button sb-add-submit', 'Add');
    submit.type = 'submit';
    form.append(name, description, value, submit);
    form.onsubmit = event => {
      event.preventDefault();
      const body = JSON.stringify({
        name: name.value,
        value: value.value,
        description: description.value
      });
      value.value = ''; // the value leaves the page now, and only once
      void this.add(name.value, body, form);
    };
    return form;
  }

  private async add(name: string, body: string, form: HTMLFormElement): Promise<void> {
    try {
      await call('secrets', { method: 'POST', body });
      form.reset();
      this.status.textContent = `stored ${name}; the value will not be shown again`;
      await this.refresh();
      this.status.textContent = `stored ${name}; the value will not be shown again`;
    } catch (error) {
      this.status.textContent = `sealbox: ${(error as Error).message}`;
    }
  }

  private status: HTMLParagraphElement;
  private notebookLine: HTMLParagraphElement;
  private list: HTMLUListElement;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'sealbox-jupyterlab:panel',
  description: "sealbox's secrets beside the notebook.",
  autoStart: true,
  requires: [ILabShell],
  optional: [INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    tracker: INotebookTracker | null
  ) => {
    const panel = new SecretsPanel(tracker);
    shell.add(panel, 'left', { rank: 650 });
  }
};

export default plugin;
