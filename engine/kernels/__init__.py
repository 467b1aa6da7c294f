"""Engine kernels: member months, attribution, total cost of care, risk, stratification."""
