"""The wiring layer: the ``loanctl`` command line and what joins the platform's stages."""
