package artifacts
