"""Ending conversations: simulated users talk to a subject that may end the chat.

One package: `options` (config table, end tool), `users` (scenario bank, scripted users),
`probe` (design, dialogue loop, reading a response), `analysis`, `figures`, `section.html.j2`.
"""

from welfare.probes.end_conversation.options import EndConversationOptions, end_tool
from welfare.probes.end_conversation.parse import read_exit_answer
from welfare.probes.end_conversation.probe import EndConversationProbe, has_exit_string

__all__ = ["EndConversationOptions", "EndConversationProbe", "end_tool", "has_exit_string",
           "read_exit_answer"]
