"""Plans: the result objects of a solve (serving, training, procurement), verified and then reported."""
