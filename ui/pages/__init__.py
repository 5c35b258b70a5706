"""One thin file per page, run by app.py's router (st.navigation): read widgets, call the core,
show the results."""
