# a hand-written seed in the UCR/UEA .ts format
@problemName Seed
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength true
@seriesLength 4
@classLabel true walk run
@data
1.0,2.0,3.0,4.0:0.5,0.5,0.5,0.5:walk
4.0,3.0,2.0,1.0:1,2,3,4:run
