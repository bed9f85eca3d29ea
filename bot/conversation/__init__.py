"""The conversation: what a person's input means, and what Harbour does about it.

* `routes` — the one table from input (typed words, buttons, answers to a
  waiting question, a finished flow) to its handler, checked when built;
* `session` — flows and one-off questions: starting, resuming, asking;
* `worker` — a worker's own reports: filing, updates, reflections, sharing;
* `talk` — hello, help, guidance, and plain words outside any flow;
* `bot.casework` — the manager's and safety lead's side.
"""
