"""Conducto's integrations with outside services, self-hosted: `co.slack` (posts through the
user's own Slack incoming webhook) and `co.git` (GitHub commit statuses with the user's own
token), instead of Conducto's hosted Slack and GitHub apps.

Read first: slack.py, git.py. May import: errors, model, and run/notify.py (the senders the
notifying callbacks use too). `conducto_nb` imports them on first use (`co.slack`, `co.git`,
`co.integrations.slack`).
"""

from . import git as git
from . import slack as slack
