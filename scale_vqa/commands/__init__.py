"""One module per ``scale-vqa`` command: ``add_parser`` registers arguments; ``run`` does the work."""
