"""Streamlit components of our own (st.components.v2), each with its browser side: the scrubber,
the Plotly chart and the drawing canvas."""
