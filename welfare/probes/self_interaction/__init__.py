"""Self-interaction: two instances talk freely; where does the conversation drift?

One package: `banks` (openings, end affordance, theme lexicon), `options`, `probe` (design,
the two-instance dialogue), `analysis`, `figures`, `section.html.j2`.
"""

from welfare.probes.self_interaction.banks import load_end_affordance, load_openings, load_themes
from welfare.probes.self_interaction.options import SelfInteractionOptions
from welfare.probes.self_interaction.probe import SelfInteractionProbe

__all__ = ["SelfInteractionOptions", "SelfInteractionProbe", "load_end_affordance",
           "load_openings", "load_themes"]
