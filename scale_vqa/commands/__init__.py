"""The core's own ``scale-vqa`` commands (validate, score, demo): ``add_parser`` registers arguments; ``run`` does
the work. Spokes register theirs the same way, through the ``scale_vqa.commands`` entry points."""
