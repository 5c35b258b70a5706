"""Everything a screen needs and nothing the maths needs: app.py routes to ui/pages/, each page
reads its widgets, calls diffusion_core and shows the result with ui/components/."""
