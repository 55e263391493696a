"""The incident pages' one stylesheet (served inline under the response's CSP nonce; no JavaScript).

Written for a tired reader: 17 px text at the least, the severity as a coloured badge that also says its
level in words (colour is never the only signal), light and dark following the reader's system setting,
every colour pair at WCAG AA contrast or better.
"""

from __future__ import annotations

STYLE = """
:root { color-scheme: light dark;
  --bg: #f6f7f9; --fg: #16181d; --muted: #4a5160; --card: #ffffff; --line: #d5d9e0; --link: #0b57d0;
  --chip: #eef1f5; --code: #f0f2f5;
  --sev1: #b3261e; --sev2: #b54708; --sev3: #8a6100; --sev4: #1d5bbf;
  --firing: #b3261e; --resolved: #17773a; --acked: #6b4fbb; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #121418; --fg: #e9ebef; --muted: #aab1bd; --card: #1b1e24; --line: #353a44; --link: #8ab4f8;
  --chip: #262a32; --code: #22262d;
  --sev1: #d9423a; --sev2: #c4600f; --sev3: #a77a00; --sev4: #3b78d8;
  --firing: #f28b82; --resolved: #6dd58c; --acked: #c5b3ff; } }
* { box-sizing: border-box; }
html { font-size: 17px; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
a { color: var(--link); }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
nav.top { padding: .6rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--card); }
nav.top a { font-weight: 600; text-decoration: none; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: .6rem 0 .4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 0 0 .3rem; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.headline { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin-top: .8rem; }
.badge { display: inline-block; padding: .2rem .7rem; border-radius: .4rem; font-weight: 700;
  color: #fff; background: var(--muted); white-space: nowrap; }
.badge.SEV1 { background: var(--sev1); } .badge.SEV2 { background: var(--sev2); }
.badge.SEV3 { background: var(--sev3); } .badge.SEV4 { background: var(--sev4); }
.badge.big { font-size: 1.25rem; padding: .3rem .9rem; }
.state { font-weight: 700; border: 2px solid currentColor; border-radius: .4rem; padding: .1rem .6rem;
  white-space: nowrap; }
.state.open, .state.firing { color: var(--firing); }
.state.resolved { color: var(--resolved); }
.state.acknowledged { color: var(--acked); }
.state.flapping { color: var(--sev2); }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .8rem 1.5rem;
  margin: 1rem 0; padding: 1rem 1.25rem; background: var(--card); border: 1px solid var(--line);
  border-radius: .6rem; }
dl.facts div { min-width: 0; }
dt { color: var(--muted); font-size: .9rem; font-weight: 600; text-transform: uppercase;
  letter-spacing: .03em; }
dd { margin: .1rem 0 0; overflow-wrap: anywhere; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .6rem;
  padding: .9rem 1.1rem; margin: .7rem 0; }
.card.firing { border-left: 6px solid var(--firing); }
.card.resolved { border-left: 6px solid var(--resolved); }
.row { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; }
ul.chips { list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .35rem; }
ul.chips li { background: var(--chip); border-radius: .35rem; padding: .1rem .5rem;
  font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .92rem; overflow-wrap: anywhere; }
ul.chips b { font-weight: 600; color: var(--muted); }
ul.chips li.vary { background: var(--fg); color: var(--bg); font-weight: 700; }
ul.chips li.vary b { color: var(--bg); }
ul.links { list-style: none; padding: 0; margin: .4rem 0 0; display: flex; flex-wrap: wrap;
  gap: .4rem 1.2rem; }
ul.links a { font-weight: 600; }
ol.reasons { margin: .4rem 0; padding-left: 1.5rem; }
ol.reasons li { margin: .15rem 0; }
.weight { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 700; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; vertical-align: top; padding: .45rem .7rem; border-bottom: 1px solid var(--line);
  overflow-wrap: anywhere; }
th { color: var(--muted); font-size: .9rem; text-transform: uppercase; letter-spacing: .03em; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--code); padding: .7rem .9rem;
  border-radius: .4rem; font-size: .95rem; margin: .4rem 0 0; }
p.more { font-weight: 600; }
form.signin { max-width: 28rem; background: var(--card); border: 1px solid var(--line);
  border-radius: .6rem; padding: 1.2rem 1.4rem; }
form.signin label { display: block; font-weight: 600; margin-bottom: .3rem; }
form.signin input[type=password] { width: 100%; font-size: 1rem; padding: .5rem .6rem;
  border: 1px solid var(--line); border-radius: .35rem; background: var(--bg); color: var(--fg); }
form.signin button { margin-top: .9rem; font-size: 1rem; font-weight: 600; padding: .5rem 1.2rem;
  border-radius: .35rem; border: 0; background: var(--link); color: var(--bg); cursor: pointer; }
.error { color: var(--firing); font-weight: 600; }
"""
