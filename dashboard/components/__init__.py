"""Pure building blocks of the pages: cards, figures, formats, palette, states, downloads."""
